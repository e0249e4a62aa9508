"""Server-side rate limits: a token bucket per (provider, key) on an injectable clock."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tasks.sandbox.settings import KeyRateLimitSettings

__all__ = ["Denied", "KeyRateLimiter", "TokenBucket"]


@dataclass(frozen=True)
class Denied:
    """A request over the limit: the numbers the provider's 429 headers carry."""

    limit: int
    available: int
    retry_after: float


class TokenBucket:
    """``burst`` tokens, refilled at ``per_second``; each request takes one."""

    def __init__(self, settings: KeyRateLimitSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._tokens = float(settings.burst)
        self._updated = clock()

    def take(self) -> Denied | None:
        """Take a token; None when allowed, else how long until one is back."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        wait = (1 - self._tokens) / self.settings.per_second
        return Denied(limit=self.settings.burst, available=0, retry_after=wait)

    @property
    def available(self) -> int:
        """Whole tokens left now."""
        self._refill()
        return math.floor(self._tokens)

    def seconds_to_full(self) -> float:
        """Seconds until the bucket is full again (the "reset" time rate-limit headers report)."""
        self._refill()
        return (self.settings.burst - self._tokens) / self.settings.per_second

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.settings.burst), self._tokens + (now - self._updated) * self.settings.per_second)
        self._updated = now


class KeyRateLimiter:
    """One bucket per key of a provider; no buckets at all when the provider has no rate limit."""

    def __init__(self, settings: KeyRateLimitSettings | None, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, key: str) -> TokenBucket | None:
        """The key's bucket (created on first use), or None when unlimited."""
        if self.settings is None:
            return None
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(self.settings, self._clock)
        return self._buckets[key]

    def take(self, key: str) -> Denied | None:
        """Take a token for ``key``; None when allowed."""
        bucket = self.bucket(key)
        return None if bucket is None else bucket.take()

    def reset(self) -> None:
        """Forget every bucket (admin reset)."""
        self._buckets.clear()
