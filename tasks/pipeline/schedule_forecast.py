"""The schedule forecast of one output: the change rate its run manifests show, priced over a cron's runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from tasks.core.config import PipelineConfig
from tasks.costs import Forecast, load_price_table
from tasks.costs.schedule import ScheduleForecast, VariantLine, project_schedule
from tasks.pipeline.history import list_runs
from tasks.pipeline.manifest import RunSummary
from tasks.storage.fs import Storage

__all__ = ["NO_HISTORY_HIGH_SHARE", "RECENT_REFRESHES", "forecast_schedule", "refresh_jobs", "variant_lines"]

# With no refresh seen yet, a later run may still bring changes: the range's high end guesses a tenth of
# the catalog's jobs per run (a guess, and the report says how many refreshes it rests on).
NO_HISTORY_HIGH_SHARE = 0.10
# The change rate follows the recent refreshes, not the whole history.
RECENT_REFRESHES = 30


def refresh_jobs(runs: Sequence[RunSummary]) -> list[dict[str, int]]:
    """Jobs per variant that each refresh found to do, oldest first, from the runs' manifests.

    The first full run edits the whole catalog, so it is no refresh and is left out, as are dry runs, runs
    with a row limit or `--force`, skipped and interrupted runs. A run that found nothing changed counts,
    with 0 jobs.
    """
    full = [
        run for run in runs if not (run.dry_run or run.limit is not None or run.force or run.skipped or run.interrupted)
    ]
    refreshes = full[1:][-RECENT_REFRESHES:]
    return [_jobs_by_variant(run.forecast) for run in refreshes]


def variant_lines(
    config: PipelineConfig, refreshes: Sequence[Mapping[str, int]], *, backlog: Forecast | None, rows: int
) -> list[VariantLine]:
    """One line per edit variant: its price inputs, the jobs each refresh brought, and the backlog.

    Args:
        config: the pipeline config.
        refreshes: jobs per variant per refresh (see `refresh_jobs`).
        backlog: the jobs to run now (a fresh forecast), done by the first scheduled run; None: none.
        rows: the catalog's rows, for the no-history guess at the range's high end.
    """
    pending = _jobs_by_variant(backlog)
    return [
        VariantLine(
            variant=variant.name,
            provider=variant.provider,
            model=variant.model,
            params=dict(variant.params),
            count=variant.count,
            observed=tuple(refresh.get(variant.name, 0) for refresh in refreshes),
            backlog=pending.get(variant.name, 0),
            fallback_high=NO_HISTORY_HIGH_SHARE * rows * len(variant.seeds),
        )
        for variant in config.edits
    ]


def forecast_schedule(
    config: PipelineConfig,
    storage: Storage,
    cron: str,
    *,
    start: datetime,
    horizon: timedelta,
    backlog: Forecast | None = None,
    rows: int = 0,
) -> ScheduleForecast:
    """Project the spend of `cron`'s runs in (start, start + horizon] from this output's run history.

    Raises:
        ConfigError: the cron is invalid, or the pricing is.
        StorageError: a manifest cannot be read.
    """
    refreshes = refresh_jobs(list_runs(storage))
    lines = variant_lines(config, refreshes, backlog=backlog, rows=rows)
    return project_schedule(cron, start, start + horizon, lines, load_price_table(config.pricing))


def _jobs_by_variant(forecast: Forecast | None) -> dict[str, int]:
    jobs: dict[str, int] = {}
    for group in forecast.groups if forecast is not None else ():
        jobs[group.variant] = jobs.get(group.variant, 0) + group.jobs
    return jobs
