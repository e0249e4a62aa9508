"""In-process progress events from the flow and its shards to whoever listens (the CLI, the progress artifacts)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "STARTED",
    "WITHDRAWN",
    "EventListener",
    "JobEvent",
    "Listener",
    "PhaseListener",
    "announce",
    "emit",
    "listen",
    "notify",
]

# Statuses of a `JobEvent` that are not a job's end: it entered its shard's gate (it is in flight), or
# it left the gate without a row (a stop came before it sent anything; the next run does it).
STARTED = "started"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class JobEvent:
    """One job's step: `status` is STARTED, WITHDRAWN, or how it ended (a results status, or "already_done").

    `cost` is the money it was billed (the price table's currency), `credits` the provider's credits.
    """

    status: str
    provider: str = ""
    images: int = 0
    cost: float = 0.0
    credits: float = 0.0


Listener = Callable[[str, int], None]  # (status, images written), once per job that ends
PhaseListener = Callable[[str], None]  # the phase the run entered: "planning", "editing"
EventListener = Callable[[JobEvent], None]  # every JobEvent, starts included
_listeners: dict[str, list[Listener]] = {}
_phase_listeners: dict[str, list[PhaseListener]] = {}
_event_listeners: dict[str, list[EventListener]] = {}
_lock = threading.Lock()


def listen(
    run_id: str,
    listener: Listener | None = None,
    on_phase: PhaseListener | None = None,
    on_event: EventListener | None = None,
) -> Callable[[], None]:
    """Call `listener` for every job that ends in `run_id`, `on_phase` when the run enters a phase, and
    `on_event` for every job event (starts, ends with provider and cost).

    Listeners run in the thread that emits (a shard's event loop): they must be quick and never block.

    Returns:
        A function that stops listening.
    """
    with _lock:
        if listener is not None:
            _listeners.setdefault(run_id, []).append(listener)
        if on_phase is not None:
            _phase_listeners.setdefault(run_id, []).append(on_phase)
        if on_event is not None:
            _event_listeners.setdefault(run_id, []).append(on_event)

    def stop() -> None:
        with _lock:
            if listener is not None:
                _listeners.get(run_id, []).remove(listener)
            if on_phase is not None:
                _phase_listeners.get(run_id, []).remove(on_phase)
            if on_event is not None:
                _event_listeners.get(run_id, []).remove(on_event)

    return stop


def emit(
    run_id: str, status: str, images: int = 0, *, provider: str = "", cost: float = 0.0, credits: float = 0.0
) -> None:
    """Tell listeners a job ended. Cheap when nobody listens (workers in other processes)."""
    for listener in list(_listeners.get(run_id, ())):
        listener(status, images)
    if _event_listeners.get(run_id):
        notify(run_id, JobEvent(status, provider, images, cost, credits))


def notify(run_id: str, event: JobEvent) -> None:
    """Tell event listeners of a job's step (`emit` does for a job's end)."""
    for listener in list(_event_listeners.get(run_id, ())):
        listener(event)


def announce(run_id: str, phase: str) -> None:
    """Tell listeners the run entered `phase` (the flow started planning, or started sending jobs)."""
    for listener in list(_phase_listeners.get(run_id, ())):
        listener(phase)
