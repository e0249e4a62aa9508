"""Thin Prefect tasks over the library: one task run per shard of jobs, never one per image."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.core.config import PipelineConfig
from tasks.core.models import Accepted, EditJob
from tasks.costs import BudgetTracker
from tasks.pipeline.breaker import BreakerBoard
from tasks.pipeline.executor import ShardSummary, run_shard
from tasks.pipeline.followup import lane_providers
from tasks.prepare import resolve_api_keys

__all__ = ["edit_shard"]


# NO_CACHE: hashing hundreds of jobs per call costs time and could pull catalog bytes into a key.
# No retries: a shard re-run would send again jobs the provider already billed. Storage failures are
# retried per write inside the shard (the job is never sent twice), and jobs in flight when the run
# stops are journaled or spooled for the next run.
@task(name="edit-shard", cache_policy=NO_CACHE, task_run_name="shard-{index}", retries=0)
def edit_shard(
    index: int,
    jobs: list[EditJob],
    config: PipelineConfig,
    run_id: str,
    pending: dict[str, Accepted],
    budget: BudgetTracker,
    results_schema: pa.Schema | None = None,
    breakers: BreakerBoard | None = None,
) -> ShardSummary:
    """Run one shard on its own event loop (the thread pool runs shards side by side).

    The budget tracker and the circuit breakers are shared in memory by the run's shards, so shards
    must run in this process (the thread pool task runner); a process-based runner would give each
    shard its own copy of a cap, and of a breaker.
    """
    logger = get_run_logger()
    keys = resolve_api_keys(config, lane_providers(jobs, config))
    summary = asyncio.run(
        run_shard(
            jobs,
            config,
            run_id=run_id,
            api_keys=keys,
            budget=budget,
            pending=pending,
            results_schema=results_schema,
            breakers=breakers,
        )
    )
    logger.info("shard %d: %d jobs, %s, %d images", index, len(jobs), _counts(summary.counts), summary.images)
    return summary


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "nothing"
