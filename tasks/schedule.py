"""Thin Prefect tasks of a scheduled refresh: the gate before planning, and the schedule forecast it publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.core.config import load_config
from tasks.pipeline.manifest import RunSummary
from tasks.pipeline.refresh import RefreshSchedule, check_config_pin, open_refresh
from tasks.pipeline.schedule_forecast import forecast_schedule
from tasks.reports import ActualSpend, schedule_markdown, write_schedule_forecast
from tasks.storage.fs import Storage

__all__ = ["publish_schedule_forecast", "refresh_gate"]


@task(name="refresh-gate", cache_policy=NO_CACHE)
def refresh_gate(config_path: str, run_id: str, schedule: RefreshSchedule, started_at: datetime) -> RunSummary | None:
    """A scheduled run's summary when it has nothing to do (unchanged, or the output busy); None: plan it.

    Raises:
        ConfigError: the config file changed since it was deployed, or is invalid.
    """
    check_config_pin(config_path, schedule.config_sha256)
    summary = open_refresh(load_config(config_path), run_id, wait=schedule.wait, started_at=started_at)
    if summary is not None:
        get_run_logger().info("run %s: %s", run_id, summary.skipped or "catalog and config unchanged: nothing to plan")
    return summary


@task(name="publish-schedule-forecast", cache_policy=NO_CACHE)
def publish_schedule_forecast(summary: RunSummary, config_path: str, schedule: RefreshSchedule) -> str | None:
    """Project the schedule's spend from this run on, beside what this run spent; returns the report's URL.

    Written to `reports/<run_id>/schedule-forecast.md` (and `.parquet`) and published as a Markdown artifact.
    None when the deployment has no cron, or the run was skipped (it holds no lease to write with).
    """
    if schedule.cron is None or summary.skipped:
        return None
    config = load_config(config_path)
    storage = Storage(config.output.uri, config.output.storage_options)
    rows = (summary.catalog_version.rows if summary.catalog_version else None) or 0
    now = datetime.now(UTC)
    projection = forecast_schedule(
        config, storage, schedule.cron, start=now, horizon=timedelta(days=schedule.horizon_days), rows=rows
    )
    per_run = projection.money[1]
    actual = ActualSpend(
        run_id=summary.run_id,
        jobs=sum(summary.counts.values()),
        money=summary.cost,
        expected_per_run=per_run / len(projection.runs) if per_run is not None and projection.runs else None,
        unchanged=summary.unchanged,
    )
    markdown = schedule_markdown(projection, actual)
    create_markdown_artifact(
        markdown=markdown, key="retouch-schedule-forecast", description=f"schedule forecast at run {summary.run_id}"
    )
    return write_schedule_forecast(storage, summary.run_id, projection, markdown)
