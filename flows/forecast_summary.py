"""`retouch forecast` without Prefect: price a prepared run, write its forecast table, name the caps it passes."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.costs import Forecast, write_forecast
from tasks.pipeline.gate import over_budget
from tasks.pipeline.manifest import new_run_id
from tasks.pipeline.prepared import PreparedRun
from tasks.reports import forecast_markdown

__all__ = ["ForecastSummary", "forecast_summary"]


@dataclass(frozen=True)
class ForecastSummary:
    """A forecast, its Markdown, where its table was written, and the caps it is over."""

    forecast: Forecast
    markdown: str
    uri: str
    over_budget: tuple[str, ...]


def forecast_summary(prepared: PreparedRun) -> ForecastSummary:
    """Write `reports/forecast-<id>/forecast.parquet` under `output.uri` for `prepared`, and say what it costs.

    No Prefect API is needed: the `forecast` flow adds the Prefect artifact (see `flows.forecast`).

    Raises:
        StorageError: the table could not be written.
    """
    uri = write_forecast(prepared.storage, prepared.forecast, run_id=f"forecast-{new_run_id()}")
    return ForecastSummary(prepared.forecast, forecast_markdown(prepared.forecast), uri, over_budget(prepared))
