"""Per-provider progress: counted from job events on a clock the test moves, and fed to a sink without per-job calls."""

from __future__ import annotations

import pytest

from tasks.pipeline.progress import STARTED, WITHDRAWN, JobEvent, emit, notify
from tasks.pipeline.progress_feed import ProgressFeed
from tasks.pipeline.tally import ProgressSnapshot, RunTally


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A sink that keeps what it was given."""

    def __init__(self) -> None:
        self.snapshots: list[ProgressSnapshot] = []

    def publish(self, snapshot: ProgressSnapshot) -> None:
        self.snapshots.append(snapshot)


def test_counts_in_flight_rate_eta_and_spend_per_provider() -> None:
    clock = Clock()
    tally = RunTally({"fast": 10, "slow": 4}, clock)
    for _ in range(3):
        tally.add(JobEvent(STARTED, "fast"))
    tally.add(JobEvent(STARTED, "slow"))
    clock.now += 2.0
    tally.add(JobEvent("succeeded", "fast", images=2, cost=0.25, credits=5.0))
    tally.add(JobEvent("failed", "fast"))
    tally.add(JobEvent("already_done"))

    fast, slow = tally.snapshot().providers
    assert (fast.done, fast.succeeded, fast.failed, fast.in_flight, fast.images) == (2, 1, 1, 1, 2)
    assert (fast.cost, fast.credits) == (0.25, 5.0)
    assert fast.rate == pytest.approx(1.0) and fast.eta == pytest.approx(8.0)  # 8 jobs left at 1 a second
    assert (slow.done, slow.in_flight, slow.rate, slow.eta) == (0, 1, None, None)  # nothing ended: no rate yet
    snapshot = tally.snapshot()
    assert (snapshot.planned, snapshot.done, snapshot.already_done) == (14, 2, 1)
    assert snapshot.percent == pytest.approx(100 * 2 / 14)


def test_a_withdrawn_job_leaves_flight_without_counting_as_done() -> None:
    tally = RunTally({"p": 2}, Clock())
    tally.add(JobEvent(STARTED, "p"))
    tally.add(JobEvent(WITHDRAWN, "p"))

    (progress,) = tally.snapshot().providers
    assert (progress.in_flight, progress.done, progress.planned) == (0, 0, 2)


def test_a_provider_not_in_the_forecast_is_counted_and_never_shows_more_done_than_planned() -> None:
    tally = RunTally({}, Clock())
    tally.add(JobEvent(STARTED, "fallback"))
    tally.add(JobEvent("succeeded", "fallback", images=1))

    (progress,) = tally.snapshot().providers
    assert (progress.provider, progress.done, progress.planned, progress.eta) == ("fallback", 1, 1, 0.0)


def test_the_feed_publishes_at_start_and_end_never_per_job() -> None:
    sink = Recorder()
    with ProgressFeed("run-feed", {"p": 50}, sink, interval=3600.0, clock=Clock()) as feed:
        for _ in range(50):
            notify("run-feed", JobEvent(STARTED, "p"))
            emit("run-feed", "succeeded", 1, provider="p", cost=0.01)
        emit("another-run", "failed", provider="p")  # another run's events are not counted
        assert feed.tally.snapshot().done == 50

    assert len(sink.snapshots) == 2  # 100 events, one interval never passed: the start and the end only
    start, end = sink.snapshots
    assert (start.done, start.finished) == (0, False)
    (provider,) = end.providers
    assert (end.finished, provider.succeeded, provider.in_flight, provider.images) == (True, 50, 0, 50)
    assert provider.cost == pytest.approx(0.5) and end.percent == 100.0
    emit("run-feed", "succeeded", provider="p")  # after the feed closed: no longer listened to
    assert len(sink.snapshots) == 2
