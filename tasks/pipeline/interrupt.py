"""Stopping a run on request (Ctrl-C): no job starts after it, jobs in flight get a grace period, then are
cancelled; what was in flight when cancelled decides whether it ends as a row.

The request comes from a signal handler on the main thread; shards run on worker threads, each with its own
event loop, so `StopSignal` is thread-safe and tells each shard's loop through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from tasks.http.clock import Clock

__all__ = ["GRACE_SECONDS", "PROCESS_STOP", "Drain", "Interrupted", "JobPhase", "Phase", "StopSignal"]

T = TypeVar("T")

# How long jobs in flight may take to finish after a stop: a person pressing Ctrl-C waits this long at most
# (plus writing the rows), and most async jobs finish within it (the sandbox's take 0.5 s, real ones 5-60 s).
GRACE_SECONDS = 8.0


class StopSignal:
    """A request to stop, set from any thread (a signal handler); listeners run on the requesting thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.RLock()  # re-entrant: a signal may land while this thread holds it
        self._listeners: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        """Ask every run in this process to stop; listeners are told once each."""
        if self._event.is_set():
            return
        self._event.set()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def clear(self) -> None:
        """Forget an earlier request (a new run starts)."""
        self._event.clear()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` (from the requesting thread) when a stop is requested; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe


# The process's stop request, set by the CLI's Ctrl-C handler and read by every shard of every run in it.
PROCESS_STOP = StopSignal()


class Phase(enum.Enum):
    """How far a job got: what stopping it now would leave behind."""

    WAITING = "waiting"  # nothing sent: stopping leaves nothing (the next run does it)
    SENDING = "sending"  # a submit may be on the wire: the job may exist and be billed
    ACCEPTED = "accepted"  # its id is journaled: the next run polls it, nothing is lost
    RECEIVED = "received"  # its answer is in hand: it is left to finish (its outputs are being stored)


class JobPhase:
    """One job's phase, moved forward by the executor as the job goes."""

    def __init__(self, phase: Phase = Phase.WAITING) -> None:
        self.now = phase


class Interrupted(Exception):
    """A job stopped by a stop request before it ended; `phase` says how far it got."""

    def __init__(self, phase: Phase) -> None:
        super().__init__(f"interrupted while {phase.value}")
        self.phase = phase


class Drain:
    """A shard's side of a stop request, as an async context manager around its jobs.

    Args:
        stop: the stop request to follow.
        grace: seconds jobs in flight may take to end after a stop before they are cancelled.
        clock: what the grace period is measured on (tests inject a fake one).
    """

    def __init__(self, stop: StopSignal, *, grace: float, clock: Clock) -> None:
        self._stop = stop
        self._grace = grace
        self._clock = clock
        self._running: dict[asyncio.Task[object], JobPhase] = {}
        self._timer: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def stopping(self) -> bool:
        """True once a stop was requested: no job may start, and no submit may be sent."""
        return self._stop.requested

    async def __aenter__(self) -> Drain:
        loop = asyncio.get_running_loop()

        def notify() -> None:  # on the requesting thread: hand over to this shard's loop
            loop.call_soon_threadsafe(self._begin)

        self._unsubscribe = self._stop.subscribe(notify)
        if self._stop.requested:
            self._begin()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()

    async def guard(self, work: Callable[[JobPhase], Awaitable[T]], phase: JobPhase) -> T:
        """Run one job's `work`; a cancellation by this drain comes out as `Interrupted`.

        Raises:
            Interrupted: the job was stopped (before sending, or cancelled after the grace period).
        """
        task = asyncio.current_task()
        assert task is not None
        self._running[task] = phase
        try:
            return await work(phase)
        except asyncio.CancelledError:
            if not self.stopping:
                raise  # not ours: the shard itself is being cancelled
            task.uncancel()
            raise Interrupted(phase.now) from None
        finally:
            del self._running[task]

    def before_send(self) -> None:
        """Called right before a submit leaves: after a stop request nothing more is sent.

        Raises:
            CancelledError: a stop was requested (`guard` turns it into `Interrupted` while still waiting).
        """
        if self.stopping:
            raise asyncio.CancelledError("stopped before sending")

    def _begin(self) -> None:
        if self._timer is None:
            self._timer = asyncio.ensure_future(self._expire())

    async def _expire(self) -> None:
        await self._clock.sleep(self._grace)
        for task, phase in list(self._running.items()):
            if phase.now is not Phase.RECEIVED:
                task.cancel("stopped: the grace period after Ctrl-C ended")
