"""Fakes shared by tests: a clock that moves virtual time instead of sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["FakeClock"]

# Loop turns to let woken tasks run up to their next wait before time moves on.
_SETTLE_TURNS = 20


class FakeClock:
    """Virtual time for one event loop: `sleep` parks the caller and never waits for real.

    A driver task wakes sleepers in deadline order (ties in call order), moving `now` to each
    deadline after letting the tasks already woken run up to their next wait.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._order), future))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await future

    async def _drive(self) -> None:
        while self._timers:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            when, _, future = heapq.heappop(self._timers)
            if not future.done():  # a cancelled sleeper's timer is dropped
                self.now = max(self.now, when)
                future.set_result(None)
