"""In-process progress events from shards to whoever listens (the CLI's progress bar)."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Listener", "emit", "listen"]

Listener = Callable[[str, int], None]  # (status, images written)
_listeners: dict[str, list[Listener]] = {}
_lock = threading.Lock()


def listen(run_id: str, listener: Listener) -> Callable[[], None]:
    """Call `listener` for every job that ends in `run_id`; returns a function that stops listening."""
    with _lock:
        _listeners.setdefault(run_id, []).append(listener)

    def stop() -> None:
        with _lock:
            _listeners.get(run_id, []).remove(listener)

    return stop


def emit(run_id: str, status: str, images: int = 0) -> None:
    """Tell listeners a job ended. Cheap when nobody listens (workers in other processes)."""
    for listener in list(_listeners.get(run_id, ())):
        listener(status, images)
