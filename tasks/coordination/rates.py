"""One provider's cluster-wide rate: adaptive back-off on 429s seen by any member, split into member shares.

The same AIMD as the in-process limiter (`tasks.http.limiter`), applied once for the whole cluster:
a 429 anywhere lowers the cluster's rate and pauses every member; successes reported in batches raise
it back. Shares never add up to more than the cluster's rate: a member gets at most an equal part, and
no more than the others leave free, so a member that joins gets room only as the others refresh and shrink.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.coordination.shares import ProviderLimit, Share, Usage

__all__ = ["ClusterRate"]

_DECREASE = 0.7  # as the in-process limiter: multiplicative decrease on a 429
_INCREASE = 0.02  # additive increase per success, as a fraction of the configured rate
_NEAR_CEILING = 0.9  # above this share of the rate that drew the last 429, only probe
_PROBE = 0.0005
_FORGET_CEILING = 1.10
_PAUSE_BASE = 1.0  # a 429 without Retry-After pauses 1 s, doubling over consecutive pauses
_PAUSE_MAX = 60.0
# A member already sending keeps at least this part of an equal share while the others shrink, so a
# sudden drop of the cluster's rate slows it rather than stopping it (the in-process floor, 10%).
_FLOOR = 0.1


@dataclass
class ClusterRate:
    """One provider's rate for the cluster, and what each member holds of it.

    Args:
        limit: the provider account's limit.
    """

    limit: ProviderLimit
    factor: float = 1.0  # the cluster's rate as a fraction of the configured one
    ceiling: float | None = None
    paused_until: float = float("-inf")
    consecutive_pauses: int = 0
    rate_limited: int = 0
    held: dict[str, float] = field(default_factory=dict)  # member -> requests per period it was granted

    @property
    def rate(self) -> float:
        """The cluster's requests per period now."""
        return self.limit.requests * self.factor

    def observe(self, usage: Usage, now: float) -> None:
        """Apply one member's 429s (each slows the cluster) and successes (each speeds it up a step)."""
        for retry_after in usage.retry_afters:
            self._on_rate_limited(retry_after, now)
        if usage.successes and not usage.retry_afters:
            self._on_successes(usage.successes)

    def share(self, member: str, members: int, in_flight: int | None, now: float) -> Share:
        """This member's share until its next refresh (recorded as held by it).

        Args:
            member: the member refreshing.
            members: live members, this one included.
            in_flight: this member's part of the in-flight cap (None: no cap).
            now: the coordinator's clock.
        """
        equal = self.rate / max(members, 1)
        others = sum(rate for name, rate in self.held.items() if name != member)
        granted = min(equal, max(self.rate - others, 0.0))
        if self.held.get(member, 0.0) > 0 and granted < equal * _FLOOR:
            granted = equal * _FLOOR
        self.held[member] = granted
        return Share(granted, self.limit.period, in_flight, max(self.paused_until - now, 0.0))

    def forget(self, member: str) -> None:
        """The member left or died: its part of the rate is free."""
        self.held.pop(member, None)

    def _on_rate_limited(self, retry_after: float | None, now: float) -> None:
        self.rate_limited += 1
        if now < self.paused_until:
            # An echo of the same burst, sent before the pause was known: lengthen, don't lower again.
            self.paused_until = max(self.paused_until, now + (retry_after or 0.0))
            return
        self.consecutive_pauses += 1
        probing = self.ceiling is not None and abs(self.factor / self.ceiling - 1) <= 1 - _NEAR_CEILING
        self.ceiling = self.factor
        self.factor = max(self.limit.min_rate_fraction, self.factor * (_NEAR_CEILING if probing else _DECREASE))
        pause = (
            retry_after
            if retry_after is not None
            else min(_PAUSE_MAX, _PAUSE_BASE * 2 ** (self.consecutive_pauses - 1))
        )
        self.paused_until = now + max(pause, 0.0)

    def _on_successes(self, successes: int) -> None:
        self.consecutive_pauses = 0
        for _ in range(min(successes, 1000)):  # a step each, as the in-process limiter; bounded work
            near = self.ceiling is not None and self.factor >= self.ceiling * _NEAR_CEILING
            step = _PROBE if near else _INCREASE
            top = 1.0 if self.ceiling is None or near else self.ceiling * _NEAR_CEILING
            self.factor = min(self.factor + step, top, 1.0)
            if self.ceiling is not None and self.factor > self.ceiling * _FORGET_CEILING:
                self.ceiling = None
            if self.factor >= 1.0:
                break
