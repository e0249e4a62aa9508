"""The main flow: config → catalog → jobs → shards of edits → images, results table, run manifest."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.checkpoint import read_pending
from tasks.config import PipelineConfig, config_hash, load_config
from tasks.edit import edit_shard, resolve_api_keys
from tasks.executor import ShardSummary
from tasks.plan import check_variants
from tasks.preflight import check_providers
from tasks.progress import emit
from tasks.run import PlanCounts, RunSummary, count_catalog_rows, iter_shards, new_run_id, write_manifest
from tasks.storage.fs import Storage
from tasks.storage.tables import RESULTS_DIR, prior_work

__all__ = ["edit_catalog", "prepare"]


def prepare(config_path: str, *, limit: int | None = None) -> tuple[PipelineConfig, int]:
    """Everything that can fail before work starts: config, provider params, the whole catalog.

    Raises:
        ConfigError / CatalogError: with the YAML path or the catalog rows at fault.
    """
    config = load_config(config_path)
    check_variants(config)
    check_providers(config, resolve_api_keys(config, {edit.provider for edit in config.edits}))
    return config, count_catalog_rows(config, limit=limit)


@flow(name="edit-catalog", task_runner=ThreadPoolTaskRunner(max_workers=16))  # type: ignore[arg-type]
def edit_catalog(
    config_path: str,
    limit: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Edit every catalog row × variant × seed not already done, and record the results.

    Args:
        config_path: the YAML config.
        limit: edit only the first N catalog rows (overrides catalog.limit).
        force: run every job again, even those already succeeded.
        dry_run: plan and count, edit nothing, write nothing.
        run_id: set by the caller to follow progress; generated when None.
    """
    logger = get_run_logger()
    config, rows = prepare(config_path, limit=limit)
    storage = Storage(config.output.uri, config.output.storage_options)
    summary = RunSummary(run_id=run_id or new_run_id(), output_uri=config.output.uri,
                         results_uri=storage.url(RESULTS_DIR), config_hash=config_hash(config), dry_run=dry_run)
    prior = prior_work(storage)
    if force:
        prior.done.clear()
    pending = {} if force else read_pending(storage)
    logger.info("run %s: %d catalog rows, %d jobs already done", summary.run_id, rows, len(prior.done))
    counts = PlanCounts()
    shards = iter_shards(config, prior=prior, counts=counts, limit=limit, on_skip=lambda: emit(summary.run_id, "already_done"))
    if dry_run:
        for _ in shards:
            pass
    else:
        _run_shards(shards, config, summary, pending)
    for name in ("planned", "already_done", "to_run", "new", "changed", "removed", "held_unknown"):
        setattr(summary, name, getattr(counts, name))
    summary.finished_at = time.time()
    if not dry_run:
        summary.manifest_uri = write_manifest(storage, summary, config)
    logger.info("run %s: %s", summary.run_id, summary.as_dict())
    return summary.as_dict()


def _run_shards(shards: Any, config: PipelineConfig, summary: RunSummary, pending: dict[str, Any]) -> None:
    """Submit shards as they are planned, keeping at most `parallel_shards` in flight (flat memory)."""
    active: list[PrefectFuture[ShardSummary]] = []
    for index, shard in enumerate(shards):
        if len(active) >= config.execution.parallel_shards:
            finished = next(as_completed(active))
            active.remove(finished)
            _add(summary, finished.result())
        shard_pending = {job.job_key: pending[job.job_key] for job in shard if job.job_key in pending}
        active.append(edit_shard.submit(index, shard, config, summary.run_id, shard_pending))
        summary.shards += 1
    for future in active:
        _add(summary, future.result())


def _add(summary: RunSummary, shard: ShardSummary) -> None:
    for status, count in shard.counts.items():
        summary.counts[status] = summary.counts.get(status, 0) + count
    summary.images += shard.images
    summary.credits += shard.credits
    summary.billing_risk += shard.billing_risk
