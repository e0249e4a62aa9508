"""Feed a run's progress to a sink (the Prefect artifacts, at the edge) at most every few seconds, never per job."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Protocol

from tasks.pipeline.progress import listen
from tasks.pipeline.tally import ProgressSnapshot, RunTally

__all__ = ["DEFAULT_INTERVAL", "ProgressFeed", "ProgressSink"]

# Publishing is a round trip to the orchestrator's API (tens to hundreds of ms here): every 2 s keeps its
# numbers current for a person watching without slowing a run of thousands of jobs a minute.
DEFAULT_INTERVAL = 2.0


class ProgressSink(Protocol):
    """Where snapshots go; `publish` is called from the feed's own thread, one call at a time."""

    def publish(self, snapshot: ProgressSnapshot) -> None:
        """Show `snapshot` (the last call of a run has `snapshot.finished` set)."""


class ProgressFeed:
    """While open, counts `run_id`'s job events and publishes a snapshot every `interval` seconds if it changed.

    The publishing thread runs in the opening thread's context (a flow run's, so what the sink creates
    belongs to it). Closing stops the thread and publishes the final snapshot from the closing thread.

    Args:
        run_id: the run whose events are counted.
        planned: jobs to run by provider.
        sink: where snapshots go.
        interval: seconds between publications.
        clock: monotonic seconds, for rates (tests pass their own).
    """

    def __init__(
        self,
        run_id: str,
        planned: Mapping[str, int],
        sink: ProgressSink,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.tally = RunTally(planned, clock) if clock is not None else RunTally(planned)
        self._run_id = run_id
        self._sink = sink
        self._interval = interval
        self._closed = threading.Event()
        self._published = -1
        self._stop_listening: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProgressFeed:
        self._stop_listening = listen(self._run_id, on_event=self.tally.add)
        self._sink.publish(self.tally.snapshot())  # at once: the run's artifacts exist from its start
        self._published = self.tally.version
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._loop,), name="retouch-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        self._sink.publish(self.tally.snapshot(finished=True))

    def _loop(self) -> None:
        while not self._closed.wait(self._interval):
            version = self.tally.version
            if version != self._published:
                self._sink.publish(self.tally.snapshot())
                self._published = version
