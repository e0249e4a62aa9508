"""The run's budget across the cluster: caps held by the coordinator, spent by members in blocks.

A member takes a block (room for several jobs) and reserves its jobs out of it locally, so the
coordinator hears from it once a block, never once a job. A cap counts, for every member, the larger
of what it settled and what it was granted, so blocks never add up past a cap. A member that leaves
gives back what it did not use; one that dies keeps its settled spend and the jobs it had in flight
(they may have been billed) and gives back the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.coordination.shares import Amount, Report
from tasks.core.config import BudgetConfig

__all__ = ["BudgetBook"]


@dataclass
class _Account:
    granted: Amount = field(default_factory=Amount)
    spent: Amount = field(default_factory=Amount)
    in_flight: Amount = field(default_factory=Amount)

    @property
    def committed(self) -> Amount:
        """Settled spend, or the grant while part of it is still unused."""
        return Amount(max(self.spent.credits, self.granted.credits), max(self.spent.money, self.granted.money))


@dataclass(frozen=True)
class _Cap:
    label: str
    providers: tuple[str, ...] | None  # None: every provider (a run cap)
    credits: float | None
    money: float | None


@dataclass
class BudgetBook:
    """Caps, blocks granted and spend reported, per member and provider.

    Args:
        budget: the config's `budget` section.
    """

    budget: BudgetConfig
    accounts: dict[tuple[str, str], _Account] = field(default_factory=dict)  # (member, provider)
    closed: dict[str, Amount] = field(default_factory=dict)  # provider -> spend of members gone

    def capped(self, provider: str) -> bool:
        """Whether any cap applies to the provider's jobs (if none, members need no blocks)."""
        return bool(self._caps(provider))

    def take(self, member: str, provider: str, want: Amount, least: Amount) -> Amount | str:
        """A block for `member` on `provider`: `want`, or less near a cap, never less than `least`.

        Returns:
            The amount granted, or why nothing can be (the cap, its limit and what is left).
        """
        factor, reason = 1.0, ""
        for cap in self._caps(provider):
            used = self.committed(cap.providers)
            for unit, limit, asked, had in (("credits", cap.credits, want.credits, used.credits),
                                            ("money", cap.money, want.money, used.money)):  # fmt: skip
                if limit is None or asked <= 0:
                    continue
                left = max(limit - had, 0.0)
                if left / asked < factor:
                    factor, reason = left / asked, f"{cap.label}.max_{unit}={limit:g} has {left:g} left on the cluster"
        block = want.scaled(factor)
        if not block.covers(least):
            return f"budget: {reason} ({_had_text(self.committed(None))} spent or held by the run's processes)"
        account = self.accounts.setdefault((member, provider), _Account())
        account.granted = account.granted + block
        return block

    def report(self, report: Report) -> None:
        """Record a member's cumulative spend and its jobs in flight."""
        for provider, spent in report.spent.items():
            self.accounts.setdefault((report.member, provider), _Account()).spent = spent
        for provider, held in report.in_flight.items():
            self.accounts.setdefault((report.member, provider), _Account()).in_flight = held

    def close(self, member: str, *, died: bool) -> None:
        """The member is gone: keep what it spent (and, if it died, its jobs in flight); free the rest."""
        for member_provider in [key for key in self.accounts if key[0] == member]:
            account = self.accounts.pop(member_provider)
            kept = account.spent + account.in_flight if died else account.spent
            provider = member_provider[1]
            self.closed[provider] = self.closed.get(provider, Amount()) + kept

    def committed(self, providers: tuple[str, ...] | None) -> Amount:
        """Spent or held against caps, over `providers` (None: all)."""
        total = Amount()
        for (_, provider), account in self.accounts.items():
            if providers is None or provider in providers:
                total = total + account.committed
        for provider, spent in self.closed.items():
            if providers is None or provider in providers:
                total = total + spent
        return total

    def _caps(self, provider: str) -> list[_Cap]:
        caps = []
        if self.budget.max_credits is not None or self.budget.max_money is not None:
            caps.append(_Cap("budget", None, self.budget.max_credits, self.budget.max_money))
        own = self.budget.per_provider.get(provider)
        if own is not None and (own.max_credits is not None or own.max_money is not None):
            caps.append(_Cap(f"budget.per_provider.{provider}", (provider,), own.max_credits, own.max_money))
        return caps


def _had_text(amount: Amount) -> str:
    """An amount for messages."""
    return f"{amount.credits:g} credits, {amount.money:g} money"
