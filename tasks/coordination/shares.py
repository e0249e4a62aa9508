"""Value types passed between the run's coordinator and its member processes (all picklable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Amount", "Grant", "ProviderLimit", "Report", "Share", "Usage"]


@dataclass(frozen=True)
class Amount:
    """Credits and money together: budget blocks, spend and reservations move both at once."""

    credits: float = 0.0
    money: float = 0.0

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.credits + other.credits, self.money + other.money)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.credits - other.credits, self.money - other.money)

    def scaled(self, factor: float) -> Amount:
        """This amount times `factor`."""
        return Amount(self.credits * factor, self.money * factor)

    def covers(self, other: Amount, epsilon: float = 1e-9) -> bool:
        """Whether this amount is at least `other` in both units (float sums of prices need the epsilon)."""
        return self.credits + epsilon >= other.credits and self.money + epsilon >= other.money


@dataclass(frozen=True)
class ProviderLimit:
    """One provider account's limit, for the whole cluster (the config's `rate_limit`)."""

    requests: float
    period: float = 1.0
    max_in_flight: int | None = None
    min_rate_fraction: float = 0.1


@dataclass(frozen=True)
class Usage:
    """One member's use of one provider since its last report."""

    successes: int = 0
    retry_afters: tuple[float | None, ...] = ()  # one per 429 seen, with the provider's Retry-After


@dataclass(frozen=True)
class Report:
    """What a member tells the coordinator at each refresh.

    Attributes:
        member: the member's id (one per process and join).
        usage: per provider, successes and 429s since the last report.
        spent: per provider, everything the member settled since it joined (cumulative, so a lost
            report costs nothing).
        in_flight: per provider, the quotes of jobs reserved and not yet settled.
        active: the providers this member has shards of now (only they get a share of it).
    """

    member: str
    active: frozenset[str] = frozenset()
    usage: Mapping[str, Usage] = field(default_factory=dict)
    spent: Mapping[str, Amount] = field(default_factory=dict)
    in_flight: Mapping[str, Amount] = field(default_factory=dict)


@dataclass(frozen=True)
class Share:
    """One member's part of one provider's limit until its next refresh.

    Attributes:
        requests: requests per `period` this member may send (0 until the others have given room).
        period: seconds.
        in_flight: in-flight leases this member should hold (None: no cap).
        pause: seconds to send nothing from now (a 429 seen anywhere in the cluster).
    """

    requests: float
    period: float
    in_flight: int | None
    pause: float = 0.0


@dataclass(frozen=True)
class Grant:
    """The coordinator's answer to a refresh: this member's shares and how many members are live.

    `expired` says the coordinator had taken the member for dead (silent past its ttl) and kept its
    in-flight spend: the member must drop its budget blocks and join again under a new id.
    """

    shares: Mapping[str, Share]
    members: int
    expired: bool = False
