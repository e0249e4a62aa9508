"""The main flow: config → catalog → jobs → forecast and budget → shards of edits → results, costs, report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.report import publish_cost_report
from tasks.core.config import PipelineConfig, config_hash, load_config
from tasks.core.errors import BudgetExceeded, StorageError
from tasks.core.models import EditJob
from tasks.costs import BudgetTracker, Forecast, load_price_table, write_forecast
from tasks.edit import edit_shard, resolve_api_keys
from tasks.pipeline.checkpoint import prune_pending, read_pending
from tasks.pipeline.executor import ShardSummary
from tasks.pipeline.plan import check_variants
from tasks.pipeline.preflight import check_providers
from tasks.pipeline.progress import emit
from tasks.pipeline.recovery import Recovery, recover
from tasks.pipeline.run import (
    PlanCounts,
    RunSummary,
    count_catalog_rows,
    forecast_run,
    iter_shards,
    new_run_id,
    write_manifest,
)
from tasks.reports import forecast_markdown
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR
from tasks.storage.results import prior_work

__all__ = ["edit_catalog", "prepare"]


def prepare(config_path: str, *, limit: int | None = None) -> tuple[PipelineConfig, int]:
    """Everything that can fail before work starts: config, provider params and keys, the whole catalog.

    Raises:
        ConfigError / CatalogError: with the YAML path or the catalog rows at fault.
    """
    config = load_config(config_path)
    check_variants(config)
    check_providers(config, resolve_api_keys(config, {edit.provider for edit in config.edits}))
    load_price_table(config.pricing)  # a bad pricing override is a config error too
    return config, count_catalog_rows(config, limit=limit)


# Threads start on demand; shards in flight are bounded per provider by execution.parallel_shards.
@flow(name="edit-catalog", task_runner=ThreadPoolTaskRunner(max_workers=32))  # type: ignore[arg-type]
def edit_catalog(
    config_path: str,
    limit: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    run_id: str | None = None,
    proceed_to_cap: bool = False,
) -> dict[str, Any]:
    """Edit every catalog row × variant × seed not already done, within budget, and record everything.

    Args:
        config_path: the YAML config.
        limit: edit only the first N catalog rows (overrides catalog.limit).
        force: run every job again, even those already succeeded.
        dry_run: plan, count and forecast; edit nothing, write nothing.
        run_id: set by the caller to follow progress; generated when None.
        proceed_to_cap: when the forecast exceeds a budget cap, run up to the cap instead of stopping.

    Raises:
        ConfigError / CatalogError: before any work.
        BudgetExceeded: the forecast is over a cap and proceeding to the cap was not asked for.
    """
    logger = get_run_logger()
    config, rows = prepare(config_path, limit=limit)
    storage = Storage(config.output.uri, config.output.storage_options)
    summary = RunSummary(
        run_id=run_id or new_run_id(),
        output_uri=config.output.uri,
        results_uri=storage.url(RESULTS_DIR),
        config_hash=config_hash(config),
        dry_run=dry_run,
    )
    # What earlier runs paid for but never recorded is written first, and never bought again.
    recovery = Recovery() if dry_run else recover(storage, config)
    prior = recovery.apply(prior_work(storage))
    if force:
        prior.done.clear()
    table = load_price_table(config.pricing)
    forecast = forecast_run(config, prior=prior, table=table, limit=limit)
    _publish_forecast(forecast, summary)
    budget = BudgetTracker(config.budget, table, at=forecast.at)
    summary.budget_stop = budget.check_forecast(forecast)
    if summary.budget_stop and not (proceed_to_cap or config.budget.on_forecast_over == "proceed_to_cap"):
        raise BudgetExceeded(
            "the forecast is over budget: "
            + "; ".join(summary.budget_stop)
            + " — nothing was sent. Raise the cap, or run with --proceed-to-cap to edit up to it.",
        )
    logger.info(
        "run %s: %d catalog rows, %d jobs already done; recovered %d paid-for jobs, held %d unknown",
        summary.run_id, rows, len(prior.done), recovery.adopted, recovery.held,
    )  # fmt: skip
    counts = PlanCounts()
    unseen = dict(prior.latest)
    on_skip = lambda: emit(summary.run_id, "already_done")  # noqa: E731
    streams = {
        provider: iter_shards(
            config, prior=prior, counts=counts, limit=limit, on_skip=on_skip, provider=provider, unseen=unseen
        )
        for provider in sorted({edit.provider for edit in config.edits})
    }
    if dry_run:
        for stream in streams.values():
            for _ in stream:
                pass
    else:
        write_forecast(storage, forecast, run_id=summary.run_id)
        pending = {} if force else prune_pending(storage, read_pending(storage), prior.done)
        _run_streams(streams, config, summary, pending, budget)
    counts.removed = len(unseen)
    summary.take_counts(counts)
    summary.finished_at = time.time()
    if not dry_run:
        summary.manifest_uri = write_manifest(storage, summary, config)
        publish_cost_report(storage, summary.run_id, table.currency)
    logger.info("run %s: %s", summary.run_id, summary.as_dict())
    return summary.as_dict()


def _run_streams(
    streams: dict[str, Iterator[list[EditJob]]],
    config: PipelineConfig,
    summary: RunSummary,
    pending: dict[str, Any],
    budget: BudgetTracker,
) -> None:
    """Run each provider's shards as its own stream, at most `parallel_shards` in flight per provider.

    Streams are independent so a slow provider never starves a fast one: with shards mixing providers,
    jobs waiting on the slowest provider's limit would fill every slot (measured: the other providers
    then ran at a third of their limits). Shards are planned only as slots free up, so memory stays flat.
    """
    active: dict[PrefectFuture[ShardSummary], str] = {}
    index = 0
    while streams or active:
        for provider in list(streams):
            while sum(1 for name in active.values() if name == provider) < config.execution.parallel_shards:
                shard = next(streams[provider], None)
                if shard is None:
                    del streams[provider]
                    break
                shard_pending = {job.job_key: pending[job.job_key] for job in shard if job.job_key in pending}
                active[edit_shard.submit(index, shard, config, summary.run_id, shard_pending, budget)] = provider
                index += 1
                summary.shards += 1
        if active:
            finished = next(as_completed(list(active)))
            del active[finished]
            try:
                _add(summary, finished.result())
            except StorageError:
                # Shards in flight stop sending and spool what they paid for; cutting them short would
                # leave paid jobs with no record but their journal's intent.
                for running in active:
                    running.wait()
                raise


def _add(summary: RunSummary, shard: ShardSummary) -> None:
    for status, count in shard.counts.items():
        summary.counts[status] = summary.counts.get(status, 0) + count
    summary.images += shard.images
    summary.credits += shard.credits
    summary.cost += shard.cost
    summary.billing_risk += shard.billing_risk


def _publish_forecast(forecast: Forecast, summary: RunSummary) -> None:
    summary.forecast = forecast.to_dict()
    summary.currency = forecast.currency
    create_markdown_artifact(
        markdown=forecast_markdown(forecast), key="retouch-forecast", description=f"forecast for run {summary.run_id}"
    )
