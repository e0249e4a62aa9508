"""The process's memory budget: source bytes and decoded pixels in flight, shared by every shard's loop.

A job reserves its whole estimated footprint in one step before it reads anything, and only ever
shrinks the reservation afterwards (once the real sizes are known, once the pixels are no longer
needed). Holding nothing while waiting and never growing means no set of jobs can deadlock; waiters
are served in arrival order, so a large job is not starved by a stream of small ones. A job whose
footprint exceeds the whole ceiling fails at once instead of waiting forever.

Like `http/slots.py`, state sits under a `threading.Lock` and each waiter waits on a future of its own
event loop, woken with `call_soon_threadsafe`: shards run in threads with loops of their own.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import platform
import threading
from collections import deque
from dataclasses import dataclass

from tasks.core.errors import SourceRefused

__all__ = [
    "ENGINE_WORKING_COPIES",
    "MB",
    "MemoryBudget",
    "Reservation",
    "ceiling_bytes",
    "over_ceiling",
    "process_budget",
]

MB = 1024 * 1024
# The local engine works on a decoded image through full-size copies, some as float64 arrays (24 bytes
# a pixel for RGB). Measured peak over the decoded size on a 2000x2000 RGB source: noise 32x, sepia 24x,
# jitter 3x, pad 2.6x, blur 0x. The budget takes the worst, plus the decoded source itself, the encoded
# output and slack, so no prompt that keeps the image's size can pass the ceiling.
ENGINE_WORKING_COPIES = 40
# The default ceiling: a quarter of the machine's memory (the rest is for the interpreter, outputs,
# other processes), never under 1 GB nor over 16 GB; 2 GB where the machine does not say.
_SHARE = 4
_FLOOR_MB, _CAP_MB, _UNKNOWN_MB = 1024, 16384, 2048
# glibc's malloc raises its mmap threshold after each large free (up to 32 MB), after which image-sized
# buffers come from per-thread arenas that keep freed memory: measured, 23 one-at-a-time 1 MP edits
# grew RSS by 200 MB over a 105 MB budget. Pinned at 1 MB, large buffers are mapped and unmapped, and
# the same run stays within 7 MB of its baseline.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1024 * 1024
_process: list[MemoryBudget] = []  # the process's one budget, once a run has asked for it
_process_lock = threading.Lock()


@dataclass(eq=False)
class _Waiter:
    amount: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False  # set under the lock when a release grants this waiter its amount


class Reservation:
    """A held part of the budget: it shrinks, never grows, and is released once (`release`)."""

    def __init__(self, budget: MemoryBudget, amount: int) -> None:
        self._budget = budget
        self.amount = amount

    def shrink_to(self, amount: int) -> None:
        """Give back what is above `amount` (a larger amount changes nothing: reservations never grow)."""
        freed = self.amount - max(0, amount)
        if freed > 0:
            self.amount -= freed
            self._budget.release(freed)

    def release(self) -> None:
        """Give back all of it (again is harmless)."""
        self.shrink_to(0)


class MemoryBudget:
    """At most `capacity` bytes reserved at once across every event loop of the process.

    Args:
        capacity: the ceiling in bytes.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._held = 0
        self._peak = 0

    @property
    def held(self) -> int:
        """Bytes reserved now."""
        return self._held

    @property
    def peak(self) -> int:
        """The most bytes ever reserved at once."""
        return self._peak

    async def reserve(self, amount: int, *, what: str) -> Reservation:
        """Hold `amount` bytes until the reservation is released, waiting in line while the budget is short.

        Raises:
            SourceRefused: `amount` exceeds the whole capacity (`what` names the job in the message).
        """
        if amount > self.capacity:
            raise over_ceiling(amount, self.capacity, what)
        await self._acquire(amount)
        return Reservation(self, amount)

    async def _acquire(self, amount: int) -> None:
        with self._lock:
            if not self._waiters and self._held + amount <= self.capacity:
                self._take(amount)
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(amount, loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:  # granted as we were cancelled: give it back to the next in line
                self.release(amount)
            else:
                self._wake()
            raise

    def release(self, amount: int) -> None:
        """Give `amount` bytes back and grant waiters, oldest first, while they fit."""
        with self._lock:
            self._held -= amount
        self._wake()

    def _take(self, amount: int) -> None:
        self._held += amount
        self._peak = max(self._peak, self._held)

    def _wake(self) -> None:
        granted: list[_Waiter] = []
        with self._lock:
            while self._waiters and self._held + self._waiters[0].amount <= self.capacity:
                waiter = self._waiters.popleft()
                waiter.granted = True
                self._take(waiter.amount)
                granted.append(waiter)
        for waiter in granted:
            try:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future)
            except RuntimeError:  # the waiter's loop has closed: nobody will use what it was granted
                self.release(waiter.amount)


def over_ceiling(amount: int, capacity: int, what: str) -> SourceRefused:
    """The error for a job that needs `amount` bytes, more than the whole `capacity` (`what` names the job)."""
    return SourceRefused(
        f"{what} needs {amount / MB:.0f} MB of source bytes and decoded pixels, more than "
        f"the memory ceiling ({capacity // MB} MB, execution.memory_mb); raise it or lower the "
        "catalog.sources caps",
        needed_bytes=amount,
    )


def process_budget(capacity: int) -> MemoryBudget:
    """The process's budget; a run configured with another ceiling replaces it (the newest config wins)."""
    with _process_lock:
        if not _process:
            _return_large_frees()
        if not _process or _process[0].capacity != capacity:
            _process[:] = [MemoryBudget(capacity)]
        return _process[0]


def _return_large_frees() -> None:
    """Make freed image buffers go back to the OS at once, so RSS follows what the budget holds (glibc)."""
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def ceiling_bytes(memory_mb: int | None) -> int:
    """The budget in bytes: `execution.memory_mb`, or a share of the machine's memory when unset."""
    if memory_mb is not None:
        return memory_mb * MB
    try:
        machine_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // MB
    except (AttributeError, ValueError, OSError):
        return _UNKNOWN_MB * MB
    return min(max(machine_mb // _SHARE, _FLOOR_MB), _CAP_MB) * MB


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
