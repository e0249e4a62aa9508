"""The forecast flow: what a run would cost and how long it would take, published to Prefect; no provider called."""

from __future__ import annotations

from prefect import flow

from flows.forecast_summary import ForecastSummary, forecast_summary
from tasks.pipeline.prepared import PreparedRun
from tasks.prepare import prepare
from tasks.publish import show_forecast

__all__ = ["ForecastSummary", "forecast_catalog"]


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
    show_forecast(prepared.forecast, f"forecast for {config_path}")
    return forecast_summary(prepared)
