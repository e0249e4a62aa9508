"""In-process progress events from the flow and its shards to whoever listens (the CLI's progress bar)."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Listener", "PhaseListener", "announce", "emit", "listen"]

Listener = Callable[[str, int], None]  # (status, images written)
PhaseListener = Callable[[str], None]  # the phase the run entered: "planning", "editing"
_listeners: dict[str, list[Listener]] = {}
_phase_listeners: dict[str, list[PhaseListener]] = {}
_lock = threading.Lock()


def listen(run_id: str, listener: Listener, on_phase: PhaseListener | None = None) -> Callable[[], None]:
    """Call `listener` for every job that ends in `run_id`, and `on_phase` when the run enters a phase.

    Returns:
        A function that stops listening.
    """
    with _lock:
        _listeners.setdefault(run_id, []).append(listener)
        if on_phase is not None:
            _phase_listeners.setdefault(run_id, []).append(on_phase)

    def stop() -> None:
        with _lock:
            _listeners.get(run_id, []).remove(listener)
            if on_phase is not None:
                _phase_listeners.get(run_id, []).remove(on_phase)

    return stop


def emit(run_id: str, status: str, images: int = 0) -> None:
    """Tell listeners a job ended. Cheap when nobody listens (workers in other processes)."""
    for listener in list(_listeners.get(run_id, ())):
        listener(status, images)


def announce(run_id: str, phase: str) -> None:
    """Tell listeners the run entered `phase` (the flow started planning, or started sending jobs)."""
    for listener in list(_phase_listeners.get(run_id, ())):
        listener(phase)
