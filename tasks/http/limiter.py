"""A per-provider request rate limiter: a GCRA schedule plus in-flight slots, shared across event loops.

Rate: each `acquire` reserves the next free send time on a theoretical-arrival-time (GCRA) schedule
under a `threading.Lock`, then sleeps once until it. Reservations are handed out in arrival order, so
waiters are served FIFO and the schedule holds the rate exactly however many wait. A 429 pauses every
pending reservation until the provider's reset time and lowers the rate (AIMD); successes raise it back.

No state is bound to an event loop (the lock is a thread lock, waits are computed then slept once,
in-flight slots are `InFlightSlots`), so shards running in different threads, each with its own event
loop, can share one limiter.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tasks.http.clock import Clock, SystemClock
from tasks.http.slots import InFlightSlots

__all__ = ["Clock", "LimiterRegistry", "LimiterStats", "RateLimit", "RateLimiter", "SystemClock"]

_DECREASE = 0.7  # multiplicative decrease on a 429
_INCREASE = 0.02  # additive increase per success below the ceiling, as a fraction of the configured rate
# Above 90% of the rate that last drew a 429 (the ceiling) the limiter only probes, a step a fortieth as big:
# rushing back to the rate that failed is what keeps a wrongly configured limit drawing 429s.
_NEAR_CEILING = 0.9
_PROBE = 0.0005
_FORGET_CEILING = 1.10  # probing this far past the ceiling without a 429: the limit was raised
_DECREASE_NEAR_CEILING = 0.9  # a 429 while probing near a known ceiling: the limit is close, back off less
_BURST_FRACTION = 0.1  # default bucket capacity: a tenth of a second's worth of requests
# A 429 without Retry-After: pause 1 s, doubling over consecutive pauses up to a minute.
_PAUSE_BASE = 1.0
_PAUSE_MAX = 60.0


@dataclass(frozen=True)
class RateLimit:
    """How fast one provider may be called.

    Args:
        requests: requests allowed per `period`.
        period: seconds.
        max_in_flight: requests allowed at once (None: no cap).
        burst: bucket capacity in requests. Default: a tenth of a second's worth, at least 1 —
            small, because a burst past the server's limit costs a 429.
        min_rate_fraction: AIMD floor, as a fraction of the configured rate.
    """

    requests: float
    period: float = 1.0
    max_in_flight: int | None = None
    burst: int | None = None
    min_rate_fraction: float = 0.1

    def __post_init__(self) -> None:
        checks = {
            "requests": self.requests > 0,
            "period": self.period > 0,
            "max_in_flight": self.max_in_flight is None or self.max_in_flight >= 1,
            "burst": self.burst is None or self.burst >= 1,
            "min_rate_fraction": 0 < self.min_rate_fraction <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"RateLimit.{name}={getattr(self, name)!r} is out of range")

    @property
    def capacity(self) -> int:
        """Bucket capacity in requests (`burst`, or the small default)."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.requests / self.period * _BURST_FRACTION))


@dataclass(frozen=True)
class LimiterStats:
    """Counters since the limiter was made.

    Attributes:
        granted: rate-schedule turns granted (`acquire` and `throttle`).
        rate_limited: 429s reported.
        pauses: pauses begun (429s that arrive during a pause join it).
        peak_in_flight: the most requests in flight at once.
    """

    granted: int = 0
    rate_limited: int = 0
    pauses: int = 0
    peak_in_flight: int = 0


@dataclass(eq=False)
class _Reservation:
    at: float  # the send time reserved on the schedule; moved later by a 429


@dataclass
class _State:
    rate: float  # current requests per period
    tat: float = -math.inf  # theoretical arrival time of the next request (GCRA)
    paused_until: float = -math.inf
    consecutive_pauses: int = 0
    ceiling: float | None = None  # the rate in force when the last 429 arrived
    pending: deque[_Reservation] = field(default_factory=deque)  # in schedule order
    granted: int = 0
    rate_limited: int = 0
    pauses: int = 0


class RateLimiter:
    """Holds one provider to its rate and in-flight cap, for every task and thread in the process.

    Args:
        limit: the configured rate limit.
        clock: time source (default: the system clock); tests pass a fake one.
        name: the provider's name, for messages.
    """

    def __init__(self, limit: RateLimit, *, clock: Clock | None = None, name: str = "") -> None:
        self.limit = limit
        self.name = name
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._state = _State(rate=limit.requests)
        self._slots = InFlightSlots(limit.max_in_flight)

    def __repr__(self) -> str:
        return f"RateLimiter({self.name!r}, {self.limit}, current_rate={self.current_rate:.3g})"

    @property
    def current_rate(self) -> float:
        """Requests per period allowed now (the configured rate, or less after 429s)."""
        return self._state.rate

    @property
    def in_flight(self) -> int:
        """Requests acquired and not yet released."""
        return self._slots.held

    @property
    def stats(self) -> LimiterStats:
        """A snapshot of the counters."""
        state = self._state
        return LimiterStats(state.granted, state.rate_limited, state.pauses, self._slots.peak)

    async def acquire(self) -> None:
        """Wait for an in-flight slot, then for the request's turn on the rate schedule.

        The slot comes first so that a request sends at the time it reserved: waiting for a slot
        after reserving would let reservations pile up and go out together.
        """
        await self._slots.acquire()
        try:
            await self.throttle()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Free the in-flight slot taken by `acquire`, handing it to the oldest waiter.

        Raises:
            RuntimeError: no slot is held.
        """
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one in-flight slot and rate token around one request."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def throttle(self) -> None:
        """Wait for the next turn on the rate schedule only (no in-flight slot).

        For requests that already hold a slot, such as the polls of a job whose submit holds one.
        """
        reservation = self._reserve()
        try:
            while True:
                wait = self._wait_or_grant(reservation)
                if wait is None:
                    return
                # Sleeps once; it loops again only if a 429 moved the reservation meanwhile.
                await self._clock.sleep(wait)
        except BaseException:
            with self._lock:  # cancelled while waiting: give the turn up
                self._state.pending.remove(reservation)
            raise

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """Note a 429: pause every pending request, then lower the rate.

        Args:
            retry_after: seconds the provider asked to wait; None means it did not say, and the
                pause backs off exponentially over consecutive pauses.
        """
        with self._lock:
            state = self._state
            now = self._clock.monotonic()
            state.rate_limited += 1
            if now >= state.paused_until:
                pause = self._begin_pause_locked(retry_after)
            else:
                # An echo: a request sent before the current pause. It may lengthen the pause, but
                # lowering the rate again for each one would collapse it to the floor.
                pause = retry_after or 0.0
            state.paused_until = max(state.paused_until, now + max(pause, 0.0))
            self._reschedule_locked()

    def on_success(self) -> None:
        """Note a request that was not rate limited: step the rate back toward the configured one."""
        with self._lock:
            state = self._state
            state.consecutive_pauses = 0
            near = state.ceiling is not None and state.rate >= state.ceiling * _NEAR_CEILING
            step = self.limit.requests * (_PROBE if near else _INCREASE)
            if state.ceiling is not None and not near:
                state.rate = min(state.rate + step, state.ceiling * _NEAR_CEILING)
            else:
                state.rate += step
            state.rate = min(self.limit.requests, state.rate)
            if state.ceiling is not None and state.rate > state.ceiling * _FORGET_CEILING:
                state.ceiling = None

    def _begin_pause_locked(self, retry_after: float | None) -> float:
        """Count a new pause, lower the rate, and say how long to pause."""
        state = self._state
        state.pauses += 1
        state.consecutive_pauses += 1
        probing = state.ceiling is not None and abs(state.rate / state.ceiling - 1) <= 1 - _DECREASE_NEAR_CEILING
        state.ceiling = state.rate
        factor = _DECREASE_NEAR_CEILING if probing else _DECREASE
        state.rate = max(self.limit.requests * self.limit.min_rate_fraction, state.rate * factor)
        if retry_after is not None:
            return retry_after
        return float(min(_PAUSE_MAX, _PAUSE_BASE * 2 ** (state.consecutive_pauses - 1)))

    def _interval(self) -> float:
        return self.limit.period / self._state.rate

    def _reserve(self) -> _Reservation:
        """Take the next free send time on the schedule (GCRA: at most `capacity` early).

        A pause needs no check here: `_reschedule_locked` moved `tat` past it.
        """
        with self._lock:
            state = self._state
            interval = self._interval()
            tolerance = (self.limit.capacity - 1) * interval
            now = self._clock.monotonic()
            at = max(now, state.tat - tolerance)
            state.tat = max(state.tat, at) + interval
            reservation = _Reservation(at)
            state.pending.append(reservation)
            return reservation

    def _wait_or_grant(self, reservation: _Reservation) -> float | None:
        """Seconds until the reservation is due, or None after granting it."""
        with self._lock:
            wait = reservation.at - self._clock.monotonic()
            if wait > 0:
                return wait
            # Pending reservations are nearly always granted from the head, so this scans little.
            self._state.pending.remove(reservation)
            self._state.granted += 1
            return None

    def _reschedule_locked(self) -> None:
        """Move pending reservations past the pause, in order, at the current rate, with no burst."""
        state = self._state
        interval = self._interval()
        at = state.paused_until
        for reservation in state.pending:
            reservation.at = max(reservation.at, at)
            at = reservation.at + interval
        # The bucket restarts empty: the next newcomer goes one interval after the last pending one.
        state.tat = max(state.tat, at + (self.limit.capacity - 1) * interval)


class LimiterRegistry:
    """One limiter per provider per process, shared by every shard of a run.

    Args:
        clock: the clock every limiter made here uses (default: the system clock).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}

    def get(self, provider: str, limit: RateLimit) -> RateLimiter:
        """The provider's limiter, made on first use.

        Raises:
            ValueError: the provider already has a limiter with a different limit; two limits for
                one provider in one process would together exceed either.
        """
        with self._lock:
            limiter = self._limiters.get(provider)
            if limiter is None:
                limiter = RateLimiter(limit, clock=self._clock, name=provider)
                self._limiters[provider] = limiter
            elif limiter.limit != limit:
                raise ValueError(
                    f"provider {provider!r} already has a limiter with {limiter.limit}, not {limit}: "
                    "use one rate limit per provider in a process, or discard() it between runs"
                )
            return limiter

    def discard(self, provider: str) -> None:
        """Forget the provider's limiter (between runs with different limits)."""
        with self._lock:
            self._limiters.pop(provider, None)
