"""Run one shard of jobs: asyncio inside, one lane per provider, every job ending as one result."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace

import httpx
import pyarrow as pa

from tasks.core.config import PipelineConfig
from tasks.core.models import Accepted, EditJob, EditResult
from tasks.costs import BudgetTracker, Quote, billed_credits, ledger_rows, load_price_table
from tasks.http import Clock, LimiterRegistry, SystemClock, new_client
from tasks.pipeline.breaker import BreakerBoard
from tasks.pipeline.followup import FollowUps, lane_providers
from tasks.pipeline.inputs import InputLoader
from tasks.pipeline.interrupt import GRACE_SECONDS, PROCESS_STOP, Drain, StopSignal
from tasks.pipeline.job_run import failed_row, run_guarded, run_job, skipped_row
from tasks.pipeline.keeper import Keeper
from tasks.pipeline.lane import ProviderLane
from tasks.pipeline.lanes import open_lanes
from tasks.pipeline.local_batches import Admitted, LocalBatches, local_work, reads_in_workers
from tasks.pipeline.pool import PROCESS_POOLS, WorkerPools
from tasks.pipeline.progress import STARTED, WITHDRAWN, JobEvent, emit, notify
from tasks.quality import QualityGate
from tasks.storage.fs import Storage
from tasks.storage.results import prior_work

__all__ = ["PROCESS_LIMITERS", "ShardSummary", "run_shard"]

# One limiter per provider per process, shared by every shard of every run in it.
PROCESS_LIMITERS = LimiterRegistry()


@dataclass
class ShardSummary:
    """What one shard did; summed by the flow."""

    counts: dict[str, int] = field(default_factory=dict)
    images: int = 0
    credits: float = 0.0
    billing_risk: int = 0
    cost: float = 0.0
    parts: list[str] = field(default_factory=list)
    lanes_stopped: dict[str, str] = field(default_factory=dict)  # provider -> why its breaker opened


async def run_shard(
    jobs: Sequence[EditJob],
    config: PipelineConfig,
    *,
    run_id: str,
    api_keys: Mapping[str, str | None],
    budget: BudgetTracker | None = None,
    pending: Mapping[str, Accepted] | None = None,
    limiters: LimiterRegistry = PROCESS_LIMITERS,
    pools: WorkerPools = PROCESS_POOLS,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    results_schema: pa.Schema | None = None,
    breakers: BreakerBoard | None = None,
    stop: StopSignal = PROCESS_STOP,
    grace: float = GRACE_SECONDS,
) -> ShardSummary:
    """Run `jobs`, write their images and result rows, and return the shard's counts.

    Args:
        jobs: the shard (jobs already done were filtered out by the planner).
        config: the pipeline config.
        run_id: recorded on every row.
        api_keys: resolved keys by provider name (never logged).
        budget: the run's budget tracker, shared by its shards (one with no caps when None).
        pending: async jobs accepted by earlier runs, by job key: polled, not re-submitted.
        limiters: where per-provider limiters live.
        pools: where worker-process pools are leased for adapters that want them (the shard holds its
            lease until its last job ends).
        clock: the clock lanes wait on (tests inject a fake one).
        transport: an httpx transport for every client (tests inject an ASGI or mock transport).
        results_schema: the run's declared results schema (`tables.plan_results_schema`); None infers
            each part's pass-through columns from its own rows.
        breakers: the run's circuit breakers, shared by its shards (this shard's own when None).
        stop: a stop request (Ctrl-C): after it no job starts and no submit is sent; jobs in flight get
            `grace` seconds, then are cancelled. A job cancelled while its submit may be on the wire ends
            `unknown` with billing_risk; one whose id is journaled is polled by the next run; one that
            never sent anything leaves no row (the next run does it).
        grace: see `stop`.
    """
    clock = clock or SystemClock()
    budget = budget or BudgetTracker(config.budget, load_price_table(config.pricing))
    storage = Storage(config.output.uri, config.output.storage_options)
    summary = ShardSummary()
    pending = pending or {}
    board = breakers or BreakerBoard()
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(new_client(timeout=60.0, transport=transport))
        loader = InputLoader(config, http)
        lanes = await open_lanes(
            stack, jobs, lane_providers(jobs, config), config, api_keys, limiters, pools, clock, transport,
            loader.policy, board,
        )  # fmt: skip
        keeper = await stack.enter_async_context(Keeper(storage, config, run_id=run_id, results_schema=results_schema))
        quality, follow_ups = QualityGate(config), FollowUps(config, budget, lambda: _earlier_keys(storage))
        gate = asyncio.Semaphore(config.execution.concurrency)
        drain = await stack.enter_async_context(Drain(stop, grace=grace, clock=clock))

        def admit(job: EditJob, accepted: Accepted | None) -> Admitted | None:
            """Let a job start: its reservation and quote; None when it must not (stopped, or storage down)."""
            if drain.stopping:
                return None  # never started: the next run does it
            if accepted is None and keeper.stopped:
                keeper.not_sent()  # storage is down: buy nothing that could not be stored
                return None
            notify(run_id, JobEvent(STARTED, job.provider))
            reservation = None if accepted else budget.reserve(job)
            quote = reservation.quote if reservation is not None else budget.table.quote_job(job, budget.at)
            if reservation is not None and not reservation:
                return Admitted(
                    job, reservation, quote, skipped_row(job, run_id, reservation.reason or "budget cap reached")
                )
            return Admitted(job, reservation, quote)

        async def finish(admitted: Admitted, result: EditResult, accepted: Accepted | None = None) -> EditJob | None:
            """Settle and record a finished job; its follow-up (a rejected output's next seed or provider)."""
            job, reservation, quote = admitted.job, admitted.reservation, admitted.quote
            rows: list[dict[str, object]] = []
            if result.status != "skipped" or reservation:  # a lane-stopped job gives its reservation back
                rows, credits = _ledger(result, quote, accepted)
                spend = budget.settle(job, reservation, credits)
                result = replace(
                    result, credits=spend.credits if rows else result.credits, cost=spend.money if rows else 0.0
                )
                if result.status == "unknown" and result.provider_job_id is not None:
                    # Abandoned while polling: the job exists, so a later run polls it instead of buying it.
                    keeper.keep_open(job.job_key, _ledgered(rows, credits, accepted))
            await keeper.add(result, rows)
            _count(summary, result)
            emit(
                run_id, result.status, len(result.outputs), provider=job.provider, cost=result.cost or 0.0,
                credits=result.credits or 0.0,
            )  # fmt: skip
            return follow_ups.after(result)

        async def one(job: EditJob) -> None:
            accepted = pending.get(job.job_key)
            async with gate:  # reserving inside the gate: reservations follow jobs in flight, not queued
                admitted = admit(job, accepted)
                if admitted is None:
                    return
                result: EditResult | None = admitted.skipped
                if result is None:
                    work = functools.partial(
                        run_job, job, lanes[job.provider], config, keeper, loader, accepted, run_id, admitted.quote,
                        quality,
                    )  # fmt: skip
                    result = await run_guarded(drain, work, job, lanes[job.provider], run_id, accepted, admitted.quote)
                if result is None:  # not sent (storage down, or stopped), or its id is journaled for the next run
                    if admitted.reservation is not None:
                        budget.release(admitted.reservation)
                    notify(run_id, JobEvent(WITHDRAWN, job.provider))
                    return
            follow = await finish(admitted, result, accepted)
            if follow is not None:
                await one(follow)

        batches = _batch_runners(lanes, pools, config, storage, keeper, quality, run_id)
        batched = [
            job for job in jobs if job.provider in batches and job.job_key not in pending and reads_in_workers(job)
        ]
        for job in batched:
            batches[job.provider].add(job)
        taken = {job.job_key for job in batched}
        await asyncio.gather(
            *(one(job) for job in jobs if job.job_key not in taken),
            *(
                runner.run(lambda job: admit(job, None), finish, one, lambda: drain.stopping)
                for runner in batches.values()
            ),
        )
    summary.parts = list(keeper.parts)
    summary.lanes_stopped = board.stops()  # on a cluster the shard's own breakers: the flow hears of them here
    return summary


def _batch_runners(
    lanes: Mapping[str, ProviderLane],
    pools: WorkerPools,
    config: PipelineConfig,
    storage: Storage,
    keeper: Keeper,
    quality: QualityGate,
    run_id: str,
) -> dict[str, LocalBatches]:
    """A batch runner for each lane whose engine edits in this machine's worker processes (the local one)."""
    runners = {}
    for name, lane in lanes.items():
        adapter = lane.adapter
        if adapter.edits_in_batches and adapter.pool is not None and lane.limiter is None and storage.is_local:
            workers = type(adapter).worker_processes(lane.settings)
            work = local_work(config, storage)
            runners[name] = LocalBatches(
                name, pools, workers, adapter.pool, work, keeper, quality, run_id,
                lambda job, error, run, started, quote: failed_row(job, error, run, started, None, quote),
            )  # fmt: skip
    return runners


def _ledger(
    result: EditResult, quote: Quote, accepted: Accepted | None
) -> tuple[list[dict[str, object]], float | None]:
    """The job's ledger rows and the credits its budget settles, net of what an earlier run ledgered.

    A job whose polling an earlier run abandoned already has its ledger row (the credits its journal entry
    records): finishing it adds a row only if the bill turned out different (a refund: a negative row).
    """
    rows, credits = ledger_rows(result, quote), billed_credits(result, quote)
    earlier = accepted.ledgered_credits if accepted is not None else None
    if earlier is None:
        return list(rows), credits
    delta = (credits or 0.0) - earlier
    if abs(delta) < 1e-9:
        return [], 0.0
    template = ledger_rows(replace(result, billed=True, credits=None), quote)[0]
    return [{**template, "credits": delta, "money": quote.money_for(delta)}], delta


def _ledgered(rows: list[dict[str, object]], credits: float | None, accepted: Accepted | None) -> float | None:
    """Credits on the ledger for a job left open: this run's row, or the earlier run's."""
    if rows:
        return credits
    return accepted.ledgered_credits if accepted is not None else None


def _earlier_keys(storage: Storage) -> set[str]:
    prior = prior_work(storage)
    return prior.done | prior.unknown


def _count(summary: ShardSummary, result: EditResult) -> None:
    summary.counts[result.status] = summary.counts.get(result.status, 0) + 1
    summary.images += len(result.outputs)
    summary.credits += result.credits or 0.0
    summary.cost += result.cost or 0.0
    summary.billing_risk += int(result.billing_risk)
