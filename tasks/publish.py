"""Thin Prefect tasks: publish a forecast, and a finished run's manifest and cost report."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.core.config import OutputConfig
from tasks.costs import BalanceChange, Forecast
from tasks.pipeline.manifest import RunSummary, write_manifest
from tasks.reports import CostReport, forecast_markdown, write_cost_report
from tasks.storage.fs import Storage

__all__ = ["publish_cost_report", "publish_run", "show_forecast"]


@task(name="show-forecast", cache_policy=NO_CACHE)
def show_forecast(forecast: Forecast, description: str) -> str:
    """Publish the forecast as a Prefect Markdown artifact; returns the Markdown."""
    markdown = forecast_markdown(forecast)
    create_markdown_artifact(markdown=markdown, key="retouch-forecast", description=description)
    return markdown


@task(name="publish-run", cache_policy=NO_CACHE)
def publish_run(summary: RunSummary, output: OutputConfig) -> RunSummary:
    """Write the run's manifest and its cost report; returns the summary with the manifest's address."""
    storage = Storage(output.uri, output.storage_options)
    uri = write_manifest(storage, summary)
    publish_cost_report(storage, summary.run_id, summary.currency, forecast=summary.forecast, balances=summary.balances)
    return summary.model_copy(update={"manifest_uri": uri})


def publish_cost_report(
    storage: Storage,
    run_id: str,
    currency: str,
    *,
    forecast: Forecast | None = None,
    balances: Sequence[BalanceChange] = (),
) -> CostReport:
    """Write a run's report under `reports/<run_id>/` and publish it as Prefect artifacts.

    Args:
        storage: the run's output location.
        run_id: the run.
        currency: the price table's currency.
        forecast: the run's forecast (None: the one saved under `reports/<run_id>/`, if any).
        balances: the provider accounts' credits before and after the run (from its manifest).
    """
    report = write_cost_report(storage, run_id=run_id, currency=currency, forecast=forecast, balances=balances)
    create_markdown_artifact(markdown=report.markdown, key="retouch-cost-report", description=f"costs of run {run_id}")
    if report.tables.get("actual_vs_forecast"):
        create_table_artifact(table=report.tables["actual_vs_forecast"], key="retouch-actual-vs-forecast")
    return report
