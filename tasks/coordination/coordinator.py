"""The run's coordinator: every provider's cluster-wide rate, in-flight shares and the budget's blocks.

A plain object, hosted as a Dask actor (`tasks.coordination.cluster`), so its methods run one at a
time and need no lock. Members (one per worker process with shards of the run) call `refresh` a few
times a second with their usage and get their shares back; a member silent for `ttl` seconds is taken
for dead and its shares and unused budget return to the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tasks.coordination.book import BudgetBook
from tasks.coordination.rates import ClusterRate
from tasks.coordination.shares import Amount, Grant, ProviderLimit, Report, Share
from tasks.core.config import BudgetConfig

__all__ = ["Coordinator", "CoordinatorState"]


@dataclass(frozen=True)
class CoordinatorState:
    """A snapshot for reports and tests: live members, each provider's rate and 429s, the budget held."""

    members: tuple[str, ...]
    departed: tuple[str, ...]
    died: tuple[str, ...]
    rates: Mapping[str, float]
    rate_limited: Mapping[str, int]
    committed: Amount
    shard_starts: Mapping[int, int]


class Coordinator:
    """Holds one run's limits and budget for every process of the cluster.

    Args:
        limits: each rate-limited provider's account limit.
        budget: the config's `budget` section.
        ttl: seconds without a refresh after which a member is taken for dead.
        clock: the coordinator's own monotonic clock (members' clocks are never compared with it).
    """

    def __init__(
        self,
        limits: Mapping[str, ProviderLimit],
        budget: BudgetConfig,
        *,
        ttl: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._rates = {name: ClusterRate(limit) for name, limit in limits.items()}
        self._book = BudgetBook(budget)
        self._seen: dict[str, float] = {}  # member -> last heard from, in join order
        self._active: dict[str, frozenset[str]] = {}  # member -> providers it has shards of
        self._departed: list[str] = []
        self._died: list[str] = []
        self._shards: dict[int, int] = {}

    def refresh(self, report: Report) -> Grant:
        """Take a member's report (joining it if new) and give it its shares until the next refresh."""
        now = self._clock()
        self._expire(now)
        if report.member in self._died:
            return Grant({}, len(self._seen), expired=True)
        self._seen[report.member] = now
        self._active[report.member] = report.active
        self._book.report(report)
        for provider, usage in report.usage.items():
            if provider in self._rates:
                self._rates[provider].observe(usage, now)
        shares = {name: self._share(name, report.member, now) for name in self._rates}
        return Grant(shares, len(self._seen))

    def _share(self, provider: str, member: str, now: float) -> Share:
        """The member's share of a provider, split among the members with shards of it (none: nothing)."""
        rate = self._rates[provider]
        sharing = [name for name in self._seen if provider in self._active.get(name, frozenset())]
        if member not in sharing:
            rate.forget(member)
            idle = None if rate.limit.max_in_flight is None else 0
            return Share(0.0, rate.limit.period, idle, max(rate.paused_until - now, 0.0))
        return rate.share(member, len(sharing), _part(rate.limit.max_in_flight, sharing, member), now)

    def leave(self, report: Report) -> None:
        """A member with no shard left: record its final spend and free its shares and unused blocks."""
        self._book.report(report)
        self._forget(report.member, died=False)

    def take_block(self, member: str, provider: str, want: Amount, least: Amount) -> Amount | str:
        """A budget block for `member` (see `BudgetBook.take`); a refusal says which cap and what is left."""
        self._expire(self._clock())
        return self._book.take(member, provider, want, least)

    def capped(self, provider: str) -> bool:
        """Whether a budget cap applies to the provider's jobs."""
        return self._book.capped(provider)

    def start_shard(self, index: int) -> int:
        """Count a start of shard `index`; more than 1 means Dask ran it again after its worker died."""
        self._shards[index] = self._shards.get(index, 0) + 1
        return self._shards[index]

    def state(self) -> CoordinatorState:
        """A snapshot (after taking silent members for dead)."""
        self._expire(self._clock())
        return CoordinatorState(
            members=tuple(self._seen),
            departed=tuple(self._departed),
            died=tuple(self._died),
            rates={name: rate.rate for name, rate in self._rates.items()},
            rate_limited={name: rate.rate_limited for name, rate in self._rates.items()},
            committed=self._book.committed(None),
            shard_starts=dict(self._shards),
        )

    def _expire(self, now: float) -> None:
        for member, seen in list(self._seen.items()):
            if now - seen > self.ttl:
                self._forget(member, died=True)

    def _forget(self, member: str, *, died: bool) -> None:
        if self._seen.pop(member, None) is not None:
            (self._died if died else self._departed).append(member)
        self._active.pop(member, None)
        for rate in self._rates.values():
            rate.forget(member)
        self._book.close(member, died=died)


def _part(cap: int | None, members: list[str], member: str) -> int | None:
    """The member's part of an in-flight cap: an equal split, the remainder to the earliest joiners."""
    if cap is None:
        return None
    base, extra = divmod(cap, len(members))
    return base + (1 if members.index(member) < extra else 0)
