"""What a scheduled refresh will spend: runs from its cron × jobs per run × the price table, per provider and month.

Each variant's jobs per run come from the refreshes already seen (`VariantLine.observed`): the mean is
expected, the smallest and largest seen bound the range. Fewer than `_FEW` refreshes say little, so the
range then opens to [0, 2 × the largest]. With none seen, later runs expect 0 jobs and the range reaches
`fallback_high` (the caller's guess, e.g. a tenth of the catalog). The first run also does the backlog:
the jobs not done yet when the projection is made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

import polars as pl
from cronsim import CronSim, CronSimError

from tasks.core.errors import ConfigError
from tasks.costs.prices import PriceTable

__all__ = [
    "SCHEDULE_SCHEMA",
    "ScheduleForecast",
    "ScheduleLine",
    "VariantLine",
    "parse_horizon",
    "project_schedule",
    "scheduled_runs",
]

_FEW = 3  # refreshes seen before their spread is trusted as the range
_MAX_RUNS = 100_000  # a cron firing every minute for two months; more is a mistake, not a schedule
_HORIZON = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

SCHEDULE_SCHEMA: dict[str, pl.DataType] = {
    "month": pl.String(),
    "provider": pl.String(),
    "runs": pl.Int64(),
    "jobs": pl.Float64(),
    "jobs_low": pl.Float64(),
    "jobs_high": pl.Float64(),
    "money": pl.Float64(),
    "money_low": pl.Float64(),
    "money_high": pl.Float64(),
    "unknown_price": pl.Boolean(),
    "currency": pl.String(),
}


@dataclass(frozen=True)
class VariantLine:
    """One edit variant as a schedule sees it: what a job costs, and how many jobs refreshes brought."""

    variant: str
    provider: str
    model: str | None
    params: Mapping[str, Any]
    count: int
    observed: tuple[int, ...] = ()
    backlog: int = 0
    fallback_high: float = 0.0

    def per_run(self) -> tuple[float, float, float]:
        """Jobs of one later run: (low, expected, high)."""
        if not self.observed:
            return 0.0, 0.0, self.fallback_high
        low, mean, high = min(self.observed), fmean(self.observed), max(self.observed)
        if len(self.observed) < _FEW:
            return 0.0, mean, max(2.0 * mean, high)
        return float(low), mean, float(high)


@dataclass(frozen=True)
class ScheduleLine:
    """One provider's projected runs, jobs and spend in one calendar month (`money*` None: no price)."""

    month: str
    provider: str
    runs: int
    jobs: float
    jobs_low: float
    jobs_high: float
    money: float | None
    money_low: float | None
    money_high: float | None


@dataclass(frozen=True)
class ScheduleForecast:
    """The projection of a schedule over a horizon."""

    cron: str
    start: datetime
    end: datetime
    currency: str
    runs: tuple[datetime, ...]
    refreshes_seen: int
    lines: tuple[ScheduleLine, ...] = field(default_factory=tuple)

    @property
    def money(self) -> tuple[float | None, float | None, float | None]:
        """(low, expected, high) over the whole horizon; None where a price is unknown."""
        lines = self.lines
        return _total(x.money_low for x in lines), _total(x.money for x in lines), _total(x.money_high for x in lines)

    def to_frame(self) -> pl.DataFrame:
        """One row per month × provider (schema SCHEDULE_SCHEMA)."""
        rows = [
            {**line.__dict__, "unknown_price": line.money is None, "currency": self.currency} for line in self.lines
        ]
        return pl.DataFrame(rows, schema=SCHEDULE_SCHEMA)


def parse_horizon(text: str) -> timedelta:
    """`30d`, `12h`, `2w` as a timedelta.

    Raises:
        ConfigError: anything else; the message shows the accepted forms.
    """
    match = _HORIZON.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"--horizon {text!r}: expected a positive number of hours, days or weeks, e.g. 30d, 12h, 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def scheduled_runs(cron: str, start: datetime, end: datetime) -> tuple[datetime, ...]:
    """The times `cron` fires after `start` and up to `end` (in `start`'s time zone).

    Raises:
        ConfigError: the cron expression is invalid, or fires more than `_MAX_RUNS` times in the horizon.
    """
    try:
        times = CronSim(cron, start)
    except CronSimError as error:
        raise ConfigError(f"schedule {cron!r} is not a cron expression ({error}); e.g. '0 3 * * *'") from None
    runs: list[datetime] = []
    for when in times:
        if when > end:
            break
        if len(runs) >= _MAX_RUNS:
            raise ConfigError(f"schedule {cron!r} fires more than {_MAX_RUNS} times before {end:%Y-%m-%d}")
        runs.append(when)
    return tuple(runs)


def project_schedule(
    cron: str, start: datetime, end: datetime, variants: Sequence[VariantLine], table: PriceTable
) -> ScheduleForecast:
    """Project each run of `cron` in (start, end]: jobs per variant × that day's price, summed by provider and month.

    Raises:
        ConfigError: the cron expression is invalid.
    """
    runs = scheduled_runs(cron, start, end)
    totals: dict[tuple[str, str], _Month] = {}
    for index, when in enumerate(runs):
        month = when.strftime("%Y-%m")
        for line in variants:
            low, mean, high = line.per_run()
            if index == 0:  # the first run also does what is not done yet
                low, mean, high = max(low, line.backlog), max(mean, line.backlog), high + line.backlog
            price = table.quote(line.provider, line.model, line.params, line.count, when.date()).money
            totals.setdefault((month, line.provider), _Month()).add(when, (low, mean, high), price)
    lines = tuple(item.freeze(*key) for key, item in sorted(totals.items()))
    seen = max((len(line.observed) for line in variants), default=0)
    return ScheduleForecast(cron, start, end, table.currency, runs, seen, lines)


@dataclass
class _Month:
    times: set[datetime] = field(default_factory=set)
    jobs: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    money: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    unknown: bool = False

    def add(self, when: datetime, jobs: tuple[float, float, float], price: float | None) -> None:
        self.times.add(when)
        for i, count in enumerate(jobs):
            self.jobs[i] += count
            self.money[i] += count * (price or 0.0)
        self.unknown = self.unknown or (price is None and any(jobs))

    def freeze(self, month: str, provider: str) -> ScheduleLine:
        (jobs_low, jobs, jobs_high), money = self.jobs, [None] * 3 if self.unknown else self.money
        return ScheduleLine(month, provider, len(self.times), jobs, jobs_low, jobs_high, money[1], money[0], money[2])


def _total(values: Any) -> float | None:
    items = list(values)
    return None if any(item is None for item in items) else float(sum(items))
