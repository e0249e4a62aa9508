"""A member's limiter: the in-process limiter run at the share the coordinator grants, reporting what it sees.

The lane uses it exactly as the in-process `RateLimiter` (acquire, throttle, release, on_success,
on_rate_limited); only the numbers come from the coordinator. A 429 pauses this process at once and
wakes the member to report it, so the whole cluster slows within one refresh.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tasks.coordination.shares import Share, Usage
from tasks.http import Clock, RateLimit, RateLimiter
from tasks.http.slots import InFlightSlots

__all__ = ["ResizableSlots", "SharedRateLimiter"]

_STEP = 0.1  # longest single sleep of a waiting request: how late a rate increase can reach it


class ResizableSlots(InFlightSlots):
    """In-flight slots whose cap follows the leases this process holds on the cluster's semaphore."""

    def resize(self, limit: int) -> None:
        """Set the cap: over a lower cap, released slots are kept free; a higher cap wakes waiters now."""
        with self._lock:
            self.limit = limit
        while True:
            with self._lock:
                if not self._waiters or self._held >= limit:
                    return
                self._held += 1  # handed straight to the oldest waiter, as `release` does
                self._peak = max(self._peak, self._held)
                waiter = self._waiters.popleft()
                waiter.handed = True
            try:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future)
            except RuntimeError:  # the waiter's loop has closed: its slot goes back
                self.release()

    def release(self) -> None:
        """Give a slot back; while over a lowered cap it is kept free rather than handed on."""
        with self._lock:
            over = self.limit is not None and self._held > self.limit
            if over:
                self._held -= 1
        if not over:
            super().release()


class SharedRateLimiter(RateLimiter):
    """One provider's limiter in a member process, at the member's share of the cluster's limit.

    Args:
        name: the provider.
        share: the first share granted (positive: members wait for one before sending).
        clock: the clock waits run on.
        wake: called on a 429 so the member reports it without waiting for its next refresh.
    """

    def __init__(self, name: str, share: Share, *, clock: Clock | None = None, wake: Callable[[], None]) -> None:
        # Even spacing (burst 1) in every member: bursts of several processes would add up at the server.
        super().__init__(RateLimit(requests=share.requests, period=share.period, burst=1), clock=clock, name=name)
        self._slots: ResizableSlots = ResizableSlots(share.in_flight)
        self._wake = wake
        self._last_grant = float("-inf")
        self._usage_lock = threading.Lock()
        self._successes = 0
        self._retry_afters: list[float | None] = []

    def apply(self, share: Share, leases: int | None) -> None:
        """Run at a new share: its rate, a pause the cluster is in, and the in-flight leases held."""
        with self._lock:
            state = self._state
            faster = share.requests > state.rate
            if share.requests > 0:
                self.limit = replace(self.limit, requests=share.requests, period=share.period)
                state.rate, state.ceiling = share.requests, None
            now = self._clock.monotonic()
            if share.pause > 0:
                state.paused_until = max(state.paused_until, now + share.pause)
            if faster:
                self._replan_locked(now)  # a bigger share (another process finished) is used at once
            else:
                self._reschedule_locked()  # waiting requests move later to the new spacing
        if leases is not None:
            self._slots.resize(leases)

    def _replan_locked(self, now: float) -> None:
        """Space waiting requests at the current rate from the last grant on, earlier than planned."""
        state = self._state
        interval = self._interval()
        at = max(now, state.paused_until, self._last_grant + interval)
        for reservation in state.pending:
            reservation.at = at
            at += interval
        state.tat = at

    def _wait_or_grant(self, reservation: Any) -> float | None:
        # Sleep in short steps, so a request moved earlier by a bigger share is sent on time.
        wait = super()._wait_or_grant(reservation)
        if wait is None:
            self._last_grant = self._clock.monotonic()
            return None
        return min(wait, _STEP)

    @property
    def slots_held(self) -> int:
        """In-flight slots taken now (the leases this process can give back are the rest)."""
        return self._slots.held

    def take_usage(self) -> Usage:
        """Successes and 429s since the last call, for the member's report."""
        with self._usage_lock:
            usage = Usage(self._successes, tuple(self._retry_afters))
            self._successes, self._retry_afters = 0, []
        return usage

    def on_success(self) -> None:
        """Count a success for the cluster's rate; locally the share is the ceiling."""
        super().on_success()
        with self._usage_lock:
            self._successes += 1

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """Pause this process now and tell the coordinator at once."""
        super().on_rate_limited(retry_after)
        with self._usage_lock:
            self._retry_afters.append(retry_after)
        self._wake()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
