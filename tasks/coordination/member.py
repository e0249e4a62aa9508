"""One process's membership in a run's coordination: its limiters and budget, refreshed in the background.

A member joins when the first shard of the run starts in its process and leaves when the last one
ends. While joined, a thread reports usage and takes new shares every `refresh` seconds (at once after
a 429), and holds as many in-flight leases on the cluster's semaphore as its share says, giving back
those no request is using. Shards in the process share the member; their lanes never wait on the network
for a limit, only on these local objects.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from tasks.coordination.budget import SharedBudget
from tasks.coordination.limiter import SharedRateLimiter
from tasks.coordination.shares import Amount, Grant, Report, Share
from tasks.core.config import PipelineConfig
from tasks.costs import PriceTable
from tasks.http import Clock, LimiterRegistry, RateLimit, RateLimiter

__all__ = ["CoordinatorCalls", "LeasePool", "Member", "MemberLimiters"]

_IDLE_RATE = 1e-6  # a provider this process has no share of yet: its limiter exists, nothing is sent


class CoordinatorCalls(Protocol):
    """The coordinator as a member reaches it (the Dask actor, or the object itself in one process)."""

    def refresh(self, report: Report) -> Grant: ...

    def leave(self, report: Report) -> None: ...

    def take_block(self, member: str, provider: str, want: Amount, least: Amount) -> Amount | str: ...

    def capped(self, provider: str) -> bool: ...


class LeasePool(Protocol):
    """This process's leases on one provider's cluster-wide in-flight semaphore."""

    @property
    def held(self) -> int: ...

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class MemberLimiters(LimiterRegistry):
    """The limiter registry a shard's lanes use: each provider's shared limiter, whatever limit is asked."""

    def __init__(self, limiters: Mapping[str, SharedRateLimiter]) -> None:
        super().__init__()
        self._shared = dict(limiters)

    def get(self, provider: str, limit: RateLimit) -> RateLimiter:
        """The provider's shared limiter (the coordinator holds the configured limit for the cluster)."""
        return self._shared[provider]


@dataclass(frozen=True)
class _Timing:
    refresh: float
    join_timeout: float


class Member:
    """This process's part of one run: shared limiters and budget, kept fresh by a background thread.

    Args:
        coordinator: how the coordinator is reached.
        leases: a lease pool per provider with an in-flight cap.
        config: the run's config (which providers have limits, the budget section).
        table: the price table; `at`: the date whose prices apply.
        refresh: seconds between reports.
        clock: what the limiters wait on.
    """

    def __init__(
        self,
        coordinator: CoordinatorCalls,
        leases: Mapping[str, LeasePool],
        config: PipelineConfig,
        table: PriceTable,
        *,
        at: date,
        refresh: float = 0.1,
        clock: Clock | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self._coordinator = coordinator
        self._leases = dict(leases)
        self._timing = _Timing(refresh, join_timeout=max(30.0, refresh * 50))
        self._wake, self._stop = threading.Event(), threading.Event()
        self.budget = SharedBudget(config.budget, table, at=at, source=self._take_block, capped=coordinator.capped)
        self._limiters: dict[str, SharedRateLimiter] = {}
        self._users: Counter[str] = Counter()  # provider -> shards of it running in this process
        self._lock = threading.Lock()  # one refresh at a time: the thread's, or a shard's waiting for a share
        grant = self._coordinator.refresh(self._report())
        for name, share in grant.shares.items():
            idle = replace(share, requests=max(share.requests, _IDLE_RATE))
            self._limiters[name] = SharedRateLimiter(name, idle, clock=clock, wake=self._wake.set)
        self.limiters = MemberLimiters(self._limiters)
        self._thread = threading.Thread(target=self._run, name=f"retouch-member-{self.id}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop refreshing, give every lease back and leave (the process has no shard of the run left)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        for pool in self._leases.values():
            while pool.held:
                pool.release()
            pool.close()
        self._coordinator.leave(self._report())

    def enter(self, providers: Iterable[str]) -> None:
        """A shard of `providers` starts: wait until this process has a share of each (the others shrink first)."""
        wanted = set(providers) & set(self._limiters)
        with self._lock:
            self._users.update(providers)
        waited = 0.0
        while True:
            grant = self._refresh()
            if all(grant.shares[name].requests > 0 for name in wanted) or waited >= self._timing.join_timeout:
                return
            # Poll faster than the refresh: the others shrink at their own refresh, this one then starts at once.
            self._stop.wait(self._timing.refresh / 4)
            waited += self._timing.refresh / 4

    def exit(self, providers: Iterable[str]) -> None:
        """A shard of `providers` ended: with none of a provider left here, its share goes to the others."""
        with self._lock:
            self._users.subtract(providers)
            self._users = +self._users  # drop the providers with no shard left
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._timing.refresh)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._refresh()

    def _refresh(self) -> Grant:
        with self._lock:
            grant = self._coordinator.refresh(self._report())
            if grant.expired:  # taken for dead after a long stall: it kept this process's blocks
                self.budget.forfeit()
                self.id = uuid.uuid4().hex[:12]
                grant = self._coordinator.refresh(self._report())
            self._apply(grant)
        return grant

    def _apply(self, grant: Grant) -> None:
        for name, share in grant.shares.items():
            limiter = self._limiters.get(name)
            leases = self._settle_leases(name, share, limiter)
            if limiter is not None:
                limiter.apply(share, leases)

    def _settle_leases(self, name: str, share: Share, limiter: SharedRateLimiter | None) -> int | None:
        """Hold `share.in_flight` leases: take what is free, give back what no request is using."""
        pool = self._leases.get(name)
        if pool is None or share.in_flight is None:
            return None
        while pool.held < share.in_flight and pool.try_acquire():
            pass
        in_use = limiter.slots_held if limiter is not None else 0
        while pool.held > max(share.in_flight, in_use):
            pool.release()
        # Leases above the share still in use drain: no new request takes them, a later refresh gives them back.
        return min(pool.held, share.in_flight)

    def _report(self) -> Report:
        spent, in_flight = self.budget.accounts()
        usage = {name: limiter.take_usage() for name, limiter in self._limiters.items()}
        return Report(self.id, frozenset(self._users), usage, spent, in_flight)

    def _take_block(self, provider: str, want: Amount, least: Amount) -> Amount | str:
        return self._coordinator.take_block(self.id, provider, want, least)
