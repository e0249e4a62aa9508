"""Thin Prefect tasks over the library: one task run per shard of jobs, never one per image."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.coordination import ClusterLink, Member, joined
from tasks.core.config import PipelineConfig
from tasks.core.models import Accepted, EditJob
from tasks.costs import BudgetTracker
from tasks.pipeline.breaker import BreakerBoard
from tasks.pipeline.executor import ShardSummary, run_shard
from tasks.pipeline.followup import lane_providers
from tasks.pipeline.relay import relayed
from tasks.pipeline.rerun import still_to_do
from tasks.prepare import resolve_api_keys
from tasks.storage.fs import Storage

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
    budget: BudgetTracker | None,
    results_schema: pa.Schema | None = None,
    breakers: BreakerBoard | None = None,
    link: ClusterLink | None = None,
) -> ShardSummary:
    """Run one shard on its own event loop (the thread pool, or a Dask worker, runs shards side by side).

    In threads, the budget tracker and the circuit breakers are shared in memory by the run's shards.
    On a Dask cluster (`link` given) the run's coordinator holds the limits and the budget for every
    process, and this process's member of it replaces both the tracker and the process's limiters;
    breakers are then per process.
    """
    logger = get_run_logger()
    with _member(link, config, lane_providers(jobs, config)) as member:
        if link is not None and link.start_shard(index) > 1:  # Dask ran it again: its worker died
            jobs, pending = still_to_do(jobs, Storage(config.output.uri, config.output.storage_options), pending)
            logger.warning("shard %d: run again after its worker died, %d jobs still to do", index, len(jobs))
        keys = resolve_api_keys(config, lane_providers(jobs, config))
        # Only the member's objects are named here: Dask pickles this function by value, with its globals.
        shared: dict[str, Any] = {} if member is None else {"limiters": member.limiters}
        with _relay(link, run_id):
            summary = asyncio.run(
                run_shard(
                    jobs,
                    config,
                    run_id=run_id,
                    api_keys=keys,
                    budget=member.budget if member else budget,
                    pending=pending,
                    **shared,
                    results_schema=results_schema,
                    breakers=breakers,
                )
            )
    logger.info("shard %d: %d jobs, %s, %d images", index, len(jobs), _counts(summary.counts), summary.images)
    return summary


def _relay(link: ClusterLink | None, run_id: str) -> AbstractContextManager[None]:
    """In a worker process, relay the shard's job events to the flow's progress bar."""
    send = link.progress_sender() if link is not None else None
    return nullcontext() if send is None else relayed(run_id, send)


def _member(
    link: ClusterLink | None, config: PipelineConfig, providers: set[str]
) -> AbstractContextManager[Member | None]:
    return nullcontext() if link is None else joined(link, config, providers)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "nothing"
