"""Provider account balances: is there enough for a run's forecast, and did the balance move as the ledger says?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tasks.costs.budget import ForecastSummary

__all__ = ["AccountBalance", "BalanceChange", "balance_changes", "shortfalls"]

_EPSILON = 1e-9  # sums of fractional prices must not refuse a forecast that fits exactly


@dataclass(frozen=True)
class AccountBalance:
    """One provider account's credits as read at one moment; several providers may bill one account.

    Attributes:
        providers: the providers of this run billed from the account (e.g. picsart.edit, picsart.outpaint).
        credits: the credits it had, or None when they could not be read (`problem` says why).
        problem: why the balance could not be read.
    """

    providers: tuple[str, ...]
    credits: float | None
    problem: str | None = None


@dataclass(frozen=True)
class BalanceChange:
    """An account's balance before and after a run, against the credits the run's ledger says it spent.

    Attributes:
        providers: the providers billed from the account.
        before / after: its credits when the run started and ended (None: not read).
        ledger_credits: the credits of the run's ledger rows for those providers.
    """

    providers: tuple[str, ...]
    before: float | None
    after: float | None
    ledger_credits: float

    @property
    def used(self) -> float | None:
        """Credits the account lost during the run (before − after), when both were read."""
        return None if self.before is None or self.after is None else self.before - self.after

    @property
    def unexplained(self) -> float | None:
        """`used` minus the ledger: 0 when the provider billed exactly what the ledger says (others sharing
        the account during the run show here too)."""
        return None if self.used is None else self.used - self.ledger_credits


def shortfalls(forecast: ForecastSummary, balances: Iterable[AccountBalance]) -> list[str]:
    """The accounts whose credits are below what the forecast needs from them, each as a sentence.

    Only known prices count: a job with an unknown price is not compared (its cost is unknown, not zero).
    """
    needed_by_provider = {name: totals.known_credits for name, totals in forecast.by_provider().items()}
    found = []
    for account in balances:
        needed = sum(needed_by_provider.get(name, 0.0) for name in account.providers)
        if account.credits is not None and needed > account.credits + _EPSILON:
            found.append(
                f"{' + '.join(account.providers)}: the forecast needs {needed:,.6g} credits and the account has "
                f"{account.credits:,.6g}"
            )
    return found


def balance_changes(
    before: Iterable[AccountBalance], after: Iterable[AccountBalance], ledger_credits: Mapping[str, float]
) -> tuple[BalanceChange, ...]:
    """Pair each account's balances before and after a run with the run's ledger credits for its providers."""
    later = {account.providers: account.credits for account in after}
    return tuple(
        BalanceChange(
            providers=account.providers,
            before=account.credits,
            after=later.get(account.providers),
            ledger_credits=sum(ledger_credits.get(name, 0.0) for name in account.providers),
        )
        for account in before
    )
