"""The forecast flow: what a run would cost and how long it would take, without calling any provider."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.edit_catalog import prepare
from tasks.costs import BudgetTracker, load_price_table, write_forecast
from tasks.pipeline.run import forecast_run, new_run_id
from tasks.reports import forecast_markdown
from tasks.storage.fs import Storage
from tasks.storage.results import prior_work

__all__ = ["forecast_catalog"]


@flow(name="forecast")
def forecast_catalog(config_path: str, limit: int | None = None) -> dict[str, Any]:
    """Plan exactly as a run would (filter, limit, done work skipped) and price every job.

    Writes `reports/forecast-<id>/forecast.parquet` under `output.uri` and a Prefect markdown artifact.
    """
    config, _ = prepare(config_path, limit=limit)
    storage = Storage(config.output.uri, config.output.storage_options)
    table = load_price_table(config.pricing)
    forecast = forecast_run(config, prior=prior_work(storage), table=table, limit=limit)
    markdown = forecast_markdown(forecast)
    uri = write_forecast(storage, forecast, run_id=f"forecast-{new_run_id()}")
    create_markdown_artifact(markdown=markdown, key="retouch-forecast", description=f"forecast for {config_path}")
    over = BudgetTracker(config.budget, table, at=forecast.at).check_forecast(forecast)
    return {"forecast": forecast.to_dict(), "markdown": markdown, "uri": uri, "over_budget": over}
