"""The forecast flow: what a run would cost and how long it would take, without calling any provider."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from tasks.costs import Forecast, write_forecast
from tasks.pipeline.gate import over_budget
from tasks.pipeline.manifest import new_run_id
from tasks.pipeline.prepared import PreparedRun
from tasks.prepare import prepare
from tasks.publish import show_forecast

__all__ = ["ForecastSummary", "forecast_catalog"]


@dataclass(frozen=True)
class ForecastSummary:
    """A forecast, its Markdown, where its table was written, and the caps it is over."""

    forecast: Forecast
    markdown: str
    uri: str
    over_budget: tuple[str, ...]


@flow(name="forecast")
def forecast_catalog(
    config_path: str, limit: int | None = None, prepared: PreparedRun | None = None
) -> ForecastSummary:
    """Plan exactly as a run would (filter, limit, done work skipped) and price every job.

    Writes `reports/forecast-<id>/forecast.parquet` under `output.uri` and a Prefect markdown artifact.

    Args:
        config_path: the YAML config (named in the artifact).
        limit: price only the first N catalog rows (ignored when `prepared` is given).
        prepared: the run as the caller already prepared it (the CLI does, before Prefect starts).
    """
    prepared = prepared or prepare(config_path, limit=limit)
    markdown = show_forecast(prepared.forecast, f"forecast for {config_path}")
    uri = write_forecast(prepared.storage, prepared.forecast, run_id=f"forecast-{new_run_id()}")
    return ForecastSummary(prepared.forecast, markdown, uri, over_budget(prepared))
