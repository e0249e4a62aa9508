"""Calling rate-limited, per-request-billed providers: the rate limiter and the retry policy."""

from __future__ import annotations

from tasks.http.clock import Clock, SystemClock
from tasks.http.limiter import LimiterRegistry, LimiterStats, RateLimit, RateLimiter
from tasks.http.retry import NO_WAIT, AttemptLog, RetryPolicy, retry_call
from tasks.http.slots import InFlightSlots

__all__ = [
    "NO_WAIT",
    "AttemptLog",
    "Clock",
    "InFlightSlots",
    "LimiterRegistry",
    "LimiterStats",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "SystemClock",
    "retry_call",
]
