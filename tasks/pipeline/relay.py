"""Job events from shards in other processes to the flow's process, in batches, so its progress bar moves."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tasks.pipeline.progress import STARTED, WITHDRAWN, JobEvent, emit, listen, notify

__all__ = ["Batch", "relayed", "replay"]

# One event as plain values (status, provider, images, cost, credits): what a transport that speaks only
# msgpack (Dask's events) carries.
Batch = list[tuple[str, str, int, float, float]]
_EVERY = 0.25  # seconds between batches: a progress bar needs no more, and a shard sends few messages


class _Relay:
    """This process's relay of one run: one listener and one sender thread, however many shards run here."""

    def __init__(self, run_id: str, send: Callable[[Batch], None], every: float) -> None:
        self._send, self._every = send, every
        self._pending: Batch = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._stop_listening = listen(run_id, on_event=self._collect)
        self._sender = threading.Thread(target=self._loop, name=f"relay-{run_id}", daemon=True)
        self._sender.start()

    def _collect(self, event: JobEvent) -> None:
        with self._lock:
            self._pending.append((event.status, event.provider, event.images, event.cost, event.credits))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._send(batch)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.flush()

    def close(self) -> None:
        self._stop_listening()
        self._stop.set()
        self._sender.join()
        self.flush()


_relays: dict[str, tuple[_Relay, int]] = {}  # run_id -> (this process's relay, shards using it)
_relays_lock = threading.Lock()


@contextmanager
def relayed(run_id: str, send: Callable[[Batch], None], every: float = _EVERY) -> Iterator[None]:
    """While open, send this process's job events of `run_id` in batches (what is left when the last shard
    using it closes); shards of one run in one process share the relay, so each event leaves once.

    Open it only in a process other than the flow's: there the events would reach the flow's own
    listeners twice.
    """
    with _relays_lock:
        relay, users = _relays.get(run_id) or (_Relay(run_id, send, every), 0)
        _relays[run_id] = (relay, users + 1)
    try:
        yield
    finally:
        with _relays_lock:
            relay, users = _relays.pop(run_id)
            if users > 1:
                _relays[run_id] = (relay, users - 1)
        if users > 1:
            relay.flush()  # this shard's events leave with its result
        else:
            relay.close()


def replay(run_id: str, batch: Iterable[Sequence[Any]]) -> None:
    """Hand a relayed batch to this process's listeners, as if its jobs had run here."""
    for status, provider, images, cost, credits in batch:
        event = JobEvent(str(status), str(provider), int(images), float(cost), float(credits))
        if event.status in (STARTED, WITHDRAWN):
            notify(run_id, event)
        else:
            emit(run_id, event.status, event.images, provider=event.provider, cost=event.cost, credits=event.credits)
