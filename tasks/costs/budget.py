"""The run's budget: reserve a job's quoted cost before it is sent, settle it with what was billed.

Thread-safe: shards run in threads, each with its own event loop, and share one tracker. Every cap
counts money already spent plus money reserved by jobs still in flight, so however many jobs reserve at
once, the reserved total never passes a cap. (A provider that bills more than its price table says can
still push the settled total past it; the report shows the difference.)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from tasks.core.config import BudgetConfig
from tasks.core.models import EditJob
from tasks.costs.prices import PriceTable, Quote

__all__ = ["BudgetTracker", "ForecastSummary", "ForecastTotals", "Reservation", "Spend"]

_EPSILON = 1e-9  # float sums of prices such as 0.01 must not refuse a job that fits exactly


class ForecastTotals(Protocol):
    """What checking caps reads of a forecast (`tasks.costs.forecast.Forecast`, or one of its groups)."""

    @property
    def known_credits(self) -> float: ...

    @property
    def known_money(self) -> float: ...

    @property
    def unknown_jobs(self) -> int: ...


class ForecastSummary(ForecastTotals, Protocol):
    """A forecast's totals plus the same per provider (`tasks.costs.forecast.Forecast`)."""

    def by_provider(self) -> Mapping[str, ForecastTotals]: ...


@dataclass(frozen=True)
class Spend:
    """Credits and money settled so far; `unknown_jobs` were billed at a price nobody knows."""

    credits: float = 0.0
    money: float = 0.0
    jobs: int = 0
    unknown_jobs: int = 0


@dataclass(frozen=True)
class Reservation:
    """The answer of `BudgetTracker.reserve`: truthy when the job may be sent.

    When refused, `reason` says which cap and by how much; record the job as skipped with it.
    """

    job_key: str
    provider: str
    granted: bool
    quote: Quote
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.granted


@dataclass(frozen=True)
class _Cap:
    label: str
    unit: str  # "credits" or "money"
    limit: float
    committed: float


class BudgetTracker:
    """Holds a run's caps and what has been spent and reserved against them.

    Args:
        budget: the config's `budget` section (run caps and per-provider caps).
        table: the price table quotes come from.
        at: the date whose prices apply (default: today, UTC).
    """

    def __init__(self, budget: BudgetConfig, table: PriceTable, *, at: date | None = None) -> None:
        self.budget = budget
        self.table = table
        self.at = at or datetime.now(UTC).date()
        self._lock = threading.Lock()
        self._spent: dict[str, Spend] = {}
        self._held: dict[str, tuple[str, float, float]] = {}  # job_key -> (provider, credits, money)
        self._holding: dict[str, Spend] = {}  # provider -> credits and money held, kept as running sums

    def reserve(self, job: EditJob) -> Reservation:
        """Reserve the job's quoted cost if it fits under every cap that applies to it.

        A job with an unknown price (allowed by `pricing.allow_unknown`) is refused while any cap applies
        to it, since the cap could not be kept; with no caps it is granted.

        Raises:
            UnknownPrice: the job has no price and unknown prices are not allowed.
        """
        quote = self.table.quote_job(job, self.at)
        with self._lock:
            reason = self._refusal(job, quote)
            if reason is None:
                self._hold(job.job_key, job.provider, quote.credits or 0.0, quote.money or 0.0)
        return Reservation(job.job_key, job.provider, reason is None, quote, reason)

    def settle(self, job: EditJob, reserved: Reservation | None, actual_credits: float | None) -> Spend:
        """Replace the job's reservation by what it cost.

        Args:
            job: the job that was sent.
            reserved: its reservation (None for a job this tracker never reserved, e.g. one accepted by
                an earlier run and resumed).
            actual_credits: credits the provider reported; None keeps the price-table figure. Pass 0.0
                for a job the provider did not bill.

        Returns:
            The credits and money recorded for this job (`unknown_jobs` 1 when neither is known).
        """
        quote = reserved.quote if reserved is not None else self.table.quote_job(job, self.at)
        credits = actual_credits if actual_credits is not None else quote.credits
        money = quote.money_for(credits)
        cost = Spend(credits or 0.0, money or 0.0, 1, int(credits is None or money is None))
        with self._lock:
            if reserved is not None and reserved.granted:
                self._unhold(job.job_key)
            self._spent[job.provider] = _add(self._spent.get(job.provider, Spend()), cost)
        return cost

    def release(self, reserved: Reservation) -> None:
        """Drop a reservation whose job was never sent (failed before submit); nothing is spent."""
        with self._lock:
            self._unhold(reserved.job_key)

    @property
    def spent(self) -> dict[str, Spend]:
        """Settled spend by provider."""
        with self._lock:
            return dict(self._spent)

    @property
    def total(self) -> Spend:
        """Settled spend of the whole run."""
        total = Spend()
        for spend in self.spent.values():
            total = _add(total, spend)
        return total

    @property
    def reserved(self) -> Spend:
        """Credits and money held by jobs in flight."""
        with self._lock:
            holding, jobs = list(self._holding.values()), len(self._held)
        return Spend(sum(item.credits for item in holding), sum(item.money for item in holding), jobs)

    def check_forecast(self, forecast: ForecastSummary) -> list[str]:
        """Which caps the forecast (plus anything already spent) would pass; empty when it fits.

        An unknown-priced part of the forecast under a cap is reported too: the cap cannot be checked.
        """
        messages: list[str] = []
        spent = self.total
        run = _Caps("budget", self.budget.max_credits, self.budget.max_money)
        messages += run.check(forecast.known_credits + spent.credits, forecast.known_money + spent.money,
                              forecast.unknown_jobs, self.table.currency, "the run")  # fmt: skip
        for provider, group in forecast.by_provider().items():
            cap = self.budget.per_provider.get(provider)
            if cap is None:
                continue
            used = self.spent.get(provider, Spend())
            caps = _Caps(f"budget.per_provider.{provider}", cap.max_credits, cap.max_money)
            messages += caps.check(group.known_credits + used.credits, group.known_money + used.money,
                                   group.unknown_jobs, self.table.currency, provider)  # fmt: skip
        return messages

    def _refusal(self, job: EditJob, quote: Quote) -> str | None:
        for cap in self._caps(job.provider):
            cost = quote.credits if cap.unit == "credits" else quote.money
            if cost is None:
                return (
                    f"budget: {job.provider} model {quote.model!r} has no known price and {cap.label} is set, "
                    "so the job is not sent; add a price under pricing: or remove the cap"
                )
            if cap.committed + cost > cap.limit + _EPSILON:
                left = max(cap.limit - cap.committed, 0.0)
                return (
                    f"budget: job would cost {cost:g} {_unit(cap.unit, quote)} on {job.provider}; {cap.label}="
                    f"{cap.limit:g} has {left:g} left ({cap.committed:g} spent or reserved)"
                )
        return None

    def _caps(self, provider: str) -> list[_Cap]:
        # Called under the lock.
        run_credits, run_money = self._committed(None)
        caps = [
            _Cap("budget.max_credits", "credits", self.budget.max_credits, run_credits)
            if self.budget.max_credits is not None else None,
            _Cap("budget.max_money", "money", self.budget.max_money, run_money)
            if self.budget.max_money is not None else None,
        ]  # fmt: skip
        own = self.budget.per_provider.get(provider)
        if own is not None:
            credits, money = self._committed(provider)
            prefix = f"budget.per_provider.{provider}"
            if own.max_credits is not None:
                caps.append(_Cap(f"{prefix}.max_credits", "credits", own.max_credits, credits))
            if own.max_money is not None:
                caps.append(_Cap(f"{prefix}.max_money", "money", own.max_money, money))
        return [cap for cap in caps if cap is not None]

    def _committed(self, provider: str | None) -> tuple[float, float]:
        # Called under the lock. Sums over providers (a handful), never over jobs.
        names = [provider] if provider is not None else list({*self._spent, *self._holding})
        parts = [item for name in names for item in (self._spent.get(name), self._holding.get(name)) if item]
        return sum(item.credits for item in parts), sum(item.money for item in parts)

    def _hold(self, job_key: str, provider: str, credits: float, money: float) -> None:
        self._unhold(job_key)  # the same job reserved twice holds once
        self._held[job_key] = (provider, credits, money)
        self._holding[provider] = _add(self._holding.get(provider, Spend()), Spend(credits, money, 1))

    def _unhold(self, job_key: str) -> None:
        held = self._held.pop(job_key, None)
        if held is not None:
            provider, credits, money = held
            self._holding[provider] = _add(self._holding[provider], Spend(-credits, -money, -1))


@dataclass(frozen=True)
class _Caps:
    label: str
    max_credits: float | None
    max_money: float | None

    def check(self, credits: float, money: float, unknown_jobs: int, currency: str, scope: str) -> list[str]:
        found = []
        for name, limit, value, unit in (("max_credits", self.max_credits, credits, "credits"),
                                         ("max_money", self.max_money, money, currency)):  # fmt: skip
            if limit is None:
                continue
            if value > limit + _EPSILON:
                found.append(f"forecast: {value:,.2f} {unit} for {scope} exceeds {self.label}.{name}={limit:g} "
                             f"(over by {value - limit:,.2f})")  # fmt: skip
            if unknown_jobs:
                jobs = f"{unknown_jobs:,} job{'' if unknown_jobs == 1 else 's'}"
                found.append(f"forecast: {jobs} for {scope} without a known price, so "
                             f"{self.label}.{name} cannot be checked for them")  # fmt: skip
        return found


def _add(left: Spend, right: Spend) -> Spend:
    return Spend(
        left.credits + right.credits,
        left.money + right.money,
        left.jobs + right.jobs,
        left.unknown_jobs + right.unknown_jobs,
    )


def _unit(unit: str, quote: Quote) -> str:
    return "credits" if unit == "credits" else quote.currency
