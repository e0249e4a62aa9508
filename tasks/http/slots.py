"""A FIFO counting semaphore that tasks on any thread's event loop can share.

`asyncio.Semaphore` binds to one loop; shards may run in threads with loops of their own. Here the
count and the queue sit under a `threading.Lock`, each waiter waits on a future of its own loop, and
a release hands its slot straight to the oldest waiter, woken with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["InFlightSlots"]


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    handed: bool = False  # set under the lock when a release gives this waiter its slot


class InFlightSlots:
    """At most `limit` holders at once (None: no cap, only counted); waiters are served in order.

    Args:
        limit: slots available, or None for no cap.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._held = 0
        self._peak = 0

    @property
    def held(self) -> int:
        """Slots held now."""
        return self._held

    @property
    def peak(self) -> int:
        """The most slots ever held at once."""
        return self._peak

    async def acquire(self) -> None:
        """Take a slot, waiting behind earlier waiters when none is free."""
        with self._lock:
            if self.limit is None or (self._held < self.limit and not self._waiters):
                self._held += 1
                self._peak = max(self._peak, self._held)
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                handed = waiter.handed
                if not handed:
                    self._waiters.remove(waiter)
            if handed:  # the slot arrived as we were cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Give the slot back, handing it to the oldest waiter if there is one.

        Raises:
            RuntimeError: no slot is held.
        """
        with self._lock:
            if self._held <= 0:
                raise RuntimeError("release() without a matching acquire()")
            if not self._waiters:
                self._held -= 1
                return
            # The count stays: the slot changes hands without ever being free for a newcomer.
            waiter = self._waiters.popleft()
            waiter.handed = True
        try:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future)
        except RuntimeError:  # the waiter's loop has closed: the slot goes to the next one
            self.release()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
