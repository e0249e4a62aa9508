"""Calling rate-limited, per-request-billed providers: the client factory, rate limiter and retry policy."""

from __future__ import annotations

from tasks.http.client import new_client
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
    "new_client",
    "retry_call",
]
