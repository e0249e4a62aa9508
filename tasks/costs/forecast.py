"""What a run will cost and take, per provider/model/variant, before any provider is called."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import polars as pl

from tasks.core.config import ProviderSettings
from tasks.core.models import EditJob
from tasks.costs.duration import DurationEstimate, estimate_duration
from tasks.costs.prices import PriceTable, Quote
from tasks.costs.schema import Estimate
from tasks.storage.fs import Storage
from tasks.storage.layout import forecast_path
from tasks.storage.parts import write_parquet

__all__ = ["FORECAST_SCHEMA", "Forecast", "ForecastGroup", "forecast", "read_forecast", "write_forecast"]

_QUOTE_CACHE = 4096  # distinct (provider, model, params, count) kept; variants are few, rows are many

FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(),
    "model": pl.String(),
    "variant": pl.String(),
    "jobs": pl.Int64(),
    "images": pl.Int64(),
    "credits": pl.Float64(),
    "money": pl.Float64(),
    "known_credits": pl.Float64(),
    "known_money": pl.Float64(),
    "unknown_jobs": pl.Int64(),
    "currency": pl.String(),
}


@dataclass(frozen=True)
class ForecastGroup:
    """Totals of one provider/model/variant. `credits`/`money` are None when any job has no price."""

    provider: str
    model: str
    variant: str
    jobs: int
    images: int
    known_credits: float
    known_money: float
    unknown_jobs: int

    @property
    def credits(self) -> float | None:
        return None if self.unknown_jobs else self.known_credits

    @property
    def money(self) -> float | None:
        return None if self.unknown_jobs else self.known_money


@dataclass(frozen=True)
class Forecast:
    """A run's forecast: groups, per-provider durations, and totals (providers run side by side)."""

    at: date
    currency: str
    groups: tuple[ForecastGroup, ...]
    durations: tuple[DurationEstimate, ...] = ()

    @property
    def jobs(self) -> int:
        return sum(group.jobs for group in self.groups)

    @property
    def images(self) -> int:
        return sum(group.images for group in self.groups)

    @property
    def unknown_jobs(self) -> int:
        return sum(group.unknown_jobs for group in self.groups)

    @property
    def known_credits(self) -> float:
        return sum(group.known_credits for group in self.groups)

    @property
    def known_money(self) -> float:
        return sum(group.known_money for group in self.groups)

    @property
    def seconds(self) -> float | None:
        """The slowest provider's duration (lanes run in parallel); None if any is unbounded."""
        spans = [item.seconds for item in self.durations if item.jobs]
        return None if any(span is None for span in spans) else max((s for s in spans if s is not None), default=0.0)

    def by_provider(self) -> dict[str, ForecastGroup]:
        """Groups summed per provider (model and variant left empty)."""
        totals: dict[str, _Totals] = {}
        for group in self.groups:
            totals.setdefault(group.provider, _Totals()).merge(group)
        return {name: item.freeze(name, "", "") for name, item in sorted(totals.items())}

    def to_frame(self) -> pl.DataFrame:
        """One row per provider/model/variant (schema FORECAST_SCHEMA)."""
        rows = [{**_group_row(group), "currency": self.currency} for group in self.groups]
        return pl.DataFrame(rows, schema=FORECAST_SCHEMA)

    def durations_frame(self) -> pl.DataFrame:
        return pl.DataFrame([asdict(item) for item in self.durations], infer_schema_length=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the run manifest (`Forecast.from_dict` reads it back)."""
        return {
            "at": self.at.isoformat(),
            "currency": self.currency,
            "groups": [asdict(group) for group in self.groups],
            "durations": [asdict(item) for item in self.durations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Forecast:
        return cls(
            at=date.fromisoformat(data["at"]),
            currency=data["currency"],
            groups=tuple(ForecastGroup(**group) for group in data["groups"]),
            durations=tuple(DurationEstimate(**item) for item in data.get("durations", ())),
        )


def forecast(
    jobs: Iterable[EditJob],
    table: PriceTable,
    settings_by_provider: Mapping[str, ProviderSettings],
    at: date,
    *,
    latency: Mapping[str, float] | None = None,
    concurrency: int | None = None,
) -> Forecast:
    """Cost and duration of `jobs`, streamed: memory stays flat however many jobs there are.

    Args:
        jobs: the planned jobs (any iterable; consumed once).
        table: the price table.
        settings_by_provider: each provider's settings, as `PipelineConfig.provider_settings(name)` gives
            them (a missing provider gets configs/provider-defaults.yaml).
        at: the date whose prices apply.
        latency: expected seconds per job by provider, overriding the price table's `estimate`.
        concurrency: jobs the executor keeps in flight at most (execution.concurrency x parallel_shards).

    Raises:
        UnknownPrice: a job has no price and the table does not allow unknown prices.
    """
    groups: dict[tuple[str, str, str], _Totals] = {}
    cache: dict[tuple[str, str | None, str, int], Quote] = {}
    for job in jobs:
        quote = _quote(job, table, at, cache)
        key = (job.provider, quote.model, job.variant)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = _Totals()
        totals.add(quote)
    frozen = tuple(item.freeze(*key) for key, item in sorted(groups.items()))
    per_provider: dict[str, int] = {}
    for group in frozen:
        per_provider[group.provider] = per_provider.get(group.provider, 0) + group.jobs
    durations = tuple(
        _duration(name, count, table, settings_by_provider, latency, concurrency)
        for name, count in sorted(per_provider.items())
    )
    return Forecast(at=at, currency=table.currency, groups=frozen, durations=durations)


def write_forecast(storage: Storage, result: Forecast, *, run_id: str) -> str:
    """Save the forecast's groups as `reports/<run_id>/forecast.parquet`; returns its URL."""
    return write_parquet(storage, forecast_path(run_id), result.to_frame().to_arrow())


def read_forecast(storage: Storage, *, run_id: str) -> pl.DataFrame | None:
    """The forecast saved by `write_forecast` for `run_id`, or None if there is none."""
    try:
        return pl.read_parquet(io.BytesIO(storage.read_bytes(forecast_path(run_id))))
    except FileNotFoundError:
        return None


@dataclass
class _Totals:
    jobs: int = 0
    images: int = 0
    known_credits: float = 0.0
    known_money: float = 0.0
    unknown_jobs: int = 0

    def add(self, quote: Quote) -> None:
        self.jobs += 1
        self.images += quote.images
        if quote.credits is None:
            self.unknown_jobs += 1
            return
        self.known_credits += quote.credits
        self.known_money += quote.money or 0.0

    def merge(self, group: ForecastGroup) -> None:
        self.jobs += group.jobs
        self.images += group.images
        self.known_credits += group.known_credits
        self.known_money += group.known_money
        self.unknown_jobs += group.unknown_jobs

    def freeze(self, provider: str, model: str, variant: str) -> ForecastGroup:
        return ForecastGroup(
            provider, model, variant, self.jobs, self.images, self.known_credits, self.known_money, self.unknown_jobs
        )


def _quote(job: EditJob, table: PriceTable, at: date, cache: dict[tuple[str, str | None, str, int], Quote]) -> Quote:
    key = (job.provider, job.model, job.params_json, job.count)
    quote = cache.get(key)
    if quote is None:
        if len(cache) >= _QUOTE_CACHE:
            cache.clear()  # params that vary per row: stay flat rather than grow
        quote = cache[key] = table.quote_job(job, at)
    return quote


def _duration(
    provider: str,
    jobs: int,
    table: PriceTable,
    settings: Mapping[str, ProviderSettings],
    latency: Mapping[str, float] | None,
    concurrency: int | None,
) -> DurationEstimate:
    prices = table.provider(provider)
    return estimate_duration(
        provider,
        jobs,
        settings=settings.get(provider) or ProviderSettings(),
        estimate=prices.estimate if prices else Estimate(),
        latency=(latency or {}).get(provider),
        concurrency=concurrency,
    )


def _group_row(group: ForecastGroup) -> dict[str, Any]:
    return {**asdict(group), "credits": group.credits, "money": group.money}
