"""Retry the write, never the job: bounded retries of writes under output.uri, and the guard that stops buying."""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from tasks.core.config import RetrySettings
from tasks.core.errors import StorageError
from tasks.http import Clock, RetryPolicy

__all__ = ["StorageGuard", "retry_write", "run_guard", "write_policy"]

T = TypeVar("T")
# Runs whose guards this process remembers; a run's shards look theirs up by run id.
_REMEMBERED_RUNS = 64
_GUARDS: OrderedDict[str, StorageGuard] = OrderedDict()
# Jitter only: one generator for every write (seeding a new Random reads 2.5 KB of urandom, per write).
_JITTER = random.Random()


class StorageGuard:
    """Tripped once a write under output.uri failed past its retries: from then on the run sends no new
    job (what it cannot store it must not buy), jobs in flight finish into the spool, and the run stops.
    """

    def __init__(self) -> None:
        self.error: StorageError | None = None
        self.not_sent = 0  # jobs never sent because of it
        self.spooled = 0  # finished jobs kept in the local spool
        self.lost = 0  # finished jobs the spool could not keep either

    @property
    def tripped(self) -> bool:
        return self.error is not None

    def trip(self, error: StorageError) -> None:
        """Remember the first failure (the one the run's message names)."""
        if self.error is None:
            self.error = error


def run_guard(run_id: str) -> StorageGuard:
    """The guard every shard of run `run_id` in this process shares (shards run side by side in threads)."""
    guard = _GUARDS.get(run_id)
    if guard is None:
        guard = _GUARDS[run_id] = StorageGuard()
        while len(_GUARDS) > _REMEMBERED_RUNS:
            _GUARDS.popitem(last=False)
    return guard


def write_policy(settings: RetrySettings) -> RetryPolicy:
    """The backoff of `output.write_retry` as a retry policy."""
    return RetryPolicy(
        attempts=settings.attempts, base=settings.base, cap=settings.cap, jitter=settings.jitter, total=settings.total
    )


async def retry_write(
    write: Callable[[], T],
    policy: RetryPolicy,
    *,
    clock: Clock,
    guard: StorageGuard | None = None,
    in_thread: bool = True,
    rng: random.Random | None = None,
    failed: StorageError | OSError | None = None,
) -> T:
    """Call `write` until it succeeds or the policy's bounds are reached, waiting with capped backoff.

    Args:
        write: one attempt (synchronous: a storage call); idempotent, since it may run again.
        policy: attempts, backoff and the total time allowed.
        clock: what the waits sleep on (tests pass a fake one).
        guard: tripped when the write gives up; once tripped, a write is tried once (the run is stopping).
        in_thread: run `write` in a worker thread (False: on the loop, for tiny local writes).
        failed: the caller already made the first attempt (in a worker-thread trip with other work) and it
            failed so: the policy counts it, and the next attempt comes after the first backoff.

    Raises:
        StorageError: the last failure, once retrying stops.
    """
    rng = rng or _JITTER
    attempts = 1 if guard is not None and guard.tripped else policy.attempts
    started, attempt, error = clock.monotonic(), 1, failed
    while True:
        if error is None:
            try:
                return await asyncio.to_thread(write) if in_thread else write()
            except (StorageError, OSError) as caught:
                error = caught
        failure = error if isinstance(error, StorageError) else StorageError(f"write failed: {error}")
        wait = policy.wait_for(attempt, failure, rng)
        if attempt >= attempts or clock.monotonic() - started + wait > policy.total:
            if guard is not None:
                guard.trip(failure)
            raise failure from None
        await clock.sleep(wait)
        attempt, error = attempt + 1, None
