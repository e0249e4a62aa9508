"""Retry policy as data: which errors to retry, how long to wait, and when to give up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tasks.core.errors import RetouchError, RetryableProviderError
from tasks.http.clock import Clock

__all__ = ["NO_WAIT", "AttemptLog", "RetryPolicy", "retry_call"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, bounded in attempts and in total time.

    Args:
        attempts: total attempts, the first included.
        base: seconds before the first retry; doubles on each further one.
        cap: the longest computed wait (jitter included).
        jitter: at most this many seconds, uniformly random, added to each computed wait.
        total: give up when the time spent plus the next wait would pass this many seconds.
        honor_retry_after: wait what the provider asked (an error's `retry_after`) instead of the
            computed wait. Off only in `NO_WAIT`, so tests never sleep.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.25
    total: float = 300.0
    honor_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts={self.attempts!r}: need at least 1")
        for name in ("base", "cap", "jitter", "total"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name}={getattr(self, name)!r}: must not be negative")

    def wait_for(self, attempt: int, error: BaseException, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 = the first).

        The provider's Retry-After wins over the computed wait, and is not capped by `cap`: waiting
        less only earns another 429. `retry_call` still bounds it by the `total` budget.
        """
        retry_after = _retry_after(error)
        if self.honor_retry_after and retry_after is not None:
            return retry_after
        computed = self.base * 2 ** (attempt - 1)
        if self.jitter:
            computed += rng.uniform(0, self.jitter)
        return float(min(self.cap, computed))

    def is_retryable(self, error: BaseException) -> bool:
        """Only transient provider errors, by type: never a bare Exception, never SubmitOutcomeUnknown."""
        return isinstance(error, RetryableProviderError)


NO_WAIT = RetryPolicy(base=0, cap=0, jitter=0, honor_retry_after=False)
"""Retries at once and never sleeps, even on Retry-After: for tests."""


@dataclass
class AttemptLog:
    """What `retry_call` went through to succeed.

    Attributes:
        attempts: calls made, the successful one included.
        last_error: the error of the last failed attempt, or None if the first succeeded.
        waited: seconds slept between attempts.
    """

    attempts: int
    last_error: BaseException | None
    waited: float


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Clock,
    rng: random.Random | None = None,
    retry_on: Callable[[BaseException], bool] | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tuple[T, AttemptLog]:
    """Call `fn` until it succeeds, an error is not retryable, or the policy's bounds are reached.

    Args:
        fn: makes one attempt; called afresh each time.
        policy: the backoff and its bounds.
        clock: what to measure time and sleep on.
        rng: jitter source; pass a seeded one for repeatable waits.
        retry_on: narrows what is retried (an error is retried only if the policy and this agree),
            e.g. a submit retried only when the provider answered and so nothing was created.
        on_retry: called as (failed attempt number, its error, seconds about to wait) before each wait.

    Returns:
        The result and the log of attempts.

    Raises:
        Exception: the last error, unchanged, once retrying stops; a RetouchError also gets its
            `attempts` set.
    """
    rng = rng or random.Random()
    started = clock.monotonic()
    attempt, waited, last_error = 1, 0.0, None
    while True:
        try:
            return await fn(), AttemptLog(attempt, last_error, waited)
        except Exception as error:
            wait = _next_wait(policy, attempt, error, rng, retry_on, clock.monotonic() - started)
            if wait is None:
                if isinstance(error, RetouchError):
                    error.attempts = attempt
                raise
            if on_retry is not None:
                on_retry(attempt, error, wait)
            last_error = error
        if wait:
            await clock.sleep(wait)
        attempt, waited = attempt + 1, waited + wait


def _next_wait(
    policy: RetryPolicy,
    attempt: int,
    error: Exception,
    rng: random.Random,
    retry_on: Callable[[BaseException], bool] | None,
    elapsed: float,
) -> float | None:
    """Seconds to wait before the next attempt, or None to give up."""
    if attempt >= policy.attempts or not policy.is_retryable(error):
        return None
    if retry_on is not None and not retry_on(error):
        return None
    wait = policy.wait_for(attempt, error, rng)
    if elapsed + wait > policy.total:
        return None
    return wait


def _retry_after(error: BaseException) -> float | None:
    value = error.context.get("retry_after") if isinstance(error, RetouchError) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
