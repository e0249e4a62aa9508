"""Job events relayed from a worker process's shards to the flow's listeners: each event once, in batches."""

from __future__ import annotations

from collections import Counter

from tasks.pipeline.progress import STARTED, JobEvent, emit, listen, notify
from tasks.pipeline.relay import Batch, relayed, replay


def test_two_shards_of_a_run_in_one_process_relay_each_event_once_and_the_flow_hears_them() -> None:
    batches: list[Batch] = []
    # every=3600: no timed batch during the test; closing the shards sends what is left.
    with relayed("worker-side", batches.append, every=3600), relayed("worker-side", batches.append, every=3600):
        notify("worker-side", JobEvent(STARTED, "picsart.edit"))
        emit("worker-side", "succeeded", 2, provider="picsart.edit", cost=0.05, credits=1.0)
        emit("worker-side", "failed", 0, provider="fashn.edit")
    emit("worker-side", "succeeded", 1, provider="picsart.edit")  # after the relay closed: not sent
    assert sum(len(batch) for batch in batches) == 3

    ended, events = Counter[str](), list[JobEvent]()
    stop = listen("flow-side", lambda status, images: ended.update({status: images or 1}), on_event=events.append)
    for batch in batches:
        replay("flow-side", batch)
    stop()
    assert ended == {"succeeded": 2, "failed": 1}  # job ends reach the progress bar's listener, starts do not
    assert events == [
        JobEvent(STARTED, "picsart.edit"),
        JobEvent("succeeded", "picsart.edit", 2, 0.05, 1.0),
        JobEvent("failed", "fashn.edit", 0, 0.0, 0.0),
    ]
