"""Run one shard of jobs: asyncio inside, one lane per provider, every job ending as one result."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace

import httpx
import pyarrow as pa

from tasks.core.config import PipelineConfig, ProviderSettings
from tasks.core.errors import LaneStopped, RetouchError, StorageError, SubmitOutcomeUnknown
from tasks.core.models import Accepted, EditJob, EditResult, JobInputs, OutputImage, StoredOutput
from tasks.costs import BudgetTracker, Quote, billed_credits, ledger_rows, load_price_table
from tasks.costs.billing import Stage, failure_billed
from tasks.http import Clock, LimiterRegistry, RateLimit, RateLimiter, RetryPolicy, SystemClock, new_client
from tasks.pipeline.breaker import BreakerBoard
from tasks.pipeline.followup import FollowUps, lane_providers
from tasks.pipeline.inputs import InputLoader, output_limits
from tasks.pipeline.interrupt import GRACE_SECONDS, PROCESS_STOP, Drain, Interrupted, JobPhase, Phase, StopSignal
from tasks.pipeline.keeper import Keeper
from tasks.pipeline.lane import ProviderLane
from tasks.pipeline.local_batches import Admitted, LocalBatches, local_work, reads_in_workers
from tasks.pipeline.outputs import judge_outputs
from tasks.pipeline.pool import PROCESS_POOLS, WorkerPools
from tasks.pipeline.progress import STARTED, WITHDRAWN, JobEvent, emit, notify
from tasks.providers.registry import provider_class
from tasks.quality import QualityGate
from tasks.storage.fs import Storage
from tasks.storage.results import prior_work
from tasks.storage.source_policy import SourcePolicy

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
        lanes = await _open_lanes(
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
                    job, reservation, quote, _skipped(job, run_id, reservation.reason or "budget cap reached")
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
                        _run_job, job, lanes[job.provider], config, keeper, loader, accepted, run_id, admitted.quote,
                        quality,
                    )  # fmt: skip
                    result = await _run_guarded(drain, work, job, lanes[job.provider], run_id, accepted, admitted.quote)
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
                lambda job, error, run, started, quote: _failed(job, error, run, started, None, quote),
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


async def _open_lanes(
    stack: AsyncExitStack,
    jobs: Sequence[EditJob],
    providers: set[str],
    config: PipelineConfig,
    api_keys: Mapping[str, str | None],
    limiters: LimiterRegistry,
    pools: WorkerPools,
    clock: Clock,
    transport: httpx.AsyncBaseTransport | None,
    policy: SourcePolicy,
    breakers: BreakerBoard,
) -> dict[str, ProviderLane]:
    lanes, counts = {}, Counter(job.provider for job in jobs)
    for name in sorted(providers):
        settings = config.provider_settings(name)
        client = await stack.enter_async_context(new_client(timeout=settings.timeout, transport=transport))
        adapter_class = provider_class(name)
        pool = stack.enter_context(pools.lease(adapter_class.worker_processes(settings, counts.get(name, 0))))
        adapter = adapter_class(
            settings=settings,
            client=client,
            api_key=api_keys.get(name),
            pool=pool,
            output_limits=output_limits(policy, settings),
        )
        stack.push_async_callback(adapter.aclose)
        lanes[name] = ProviderLane(
            adapter,
            settings=settings,
            policy=_policy(settings),
            clock=clock,
            limiter=_limiter(name, settings, limiters),
            breaker=breakers.get(name),
        )
    return lanes


def _policy(settings: ProviderSettings) -> RetryPolicy:
    retry = settings.retry
    return RetryPolicy(attempts=retry.attempts, base=retry.base, cap=retry.cap, jitter=retry.jitter, total=retry.total)


def _limiter(name: str, settings: ProviderSettings, limiters: LimiterRegistry) -> RateLimiter | None:
    if settings.rate_limit is None:
        return None
    limit = settings.rate_limit
    wanted = RateLimit(
        requests=limit.requests, period=limit.period, max_in_flight=limit.max_in_flight, burst=limit.burst
    )
    try:
        return limiters.get(name, wanted)
    except ValueError:
        # A later run in this process configured another limit for the provider: the newest config wins.
        limiters.discard(name)
        return limiters.get(name, wanted)


async def _run_guarded(
    drain: Drain,
    work: Callable[[Drain, JobPhase], Awaitable[EditResult | None]],
    job: EditJob,
    lane: ProviderLane,
    run_id: str,
    accepted: Accepted | None,
    quote: Quote,
) -> EditResult | None:
    """Run one job under the shard's drain; a stopped job's row (or None: it leaves none)."""
    phase = JobPhase(Phase.ACCEPTED if accepted else Phase.WAITING)
    try:
        return await drain.guard(functools.partial(work, drain), phase)
    except Interrupted as stopped:
        if stopped.phase is not Phase.SENDING or not lane.adapter.remote:
            return None  # nothing billed, or its id is journaled: the next run does or polls it
        now = time.time()
        return EditResult(
            job=job,
            status="unknown",
            run_id=run_id,
            attempts=1,
            started_at=now,
            finished_at=now,
            error_type=SubmitOutcomeUnknown.__name__,
            error_message=(
                f"{job.provider}: the run was stopped (Ctrl-C) while the submit was on the wire; the job may "
                "exist and be billed, so it is not re-sent (set resubmit_unknown to risk re-sending it)"
            ),
            billing_risk=True,
            billed=failure_billed(quote, Stage.UNKNOWN, None),
        )


async def _run_job(
    job: EditJob,
    lane: ProviderLane,
    config: PipelineConfig,
    keeper: Keeper,
    loader: InputLoader,
    accepted: Accepted | None,
    run_id: str,
    quote: Quote,
    quality: QualityGate,
    drain: Drain,
    phase: JobPhase,
) -> EditResult | None:
    """Run one job to its result row; None when it was not sent because storage is failing."""
    started = time.time()

    async def on_intent(job: EditJob) -> None:
        drain.before_send()
        await keeper.intent(job)  # durable before a byte of the submit leaves; if it raises, nothing is sent
        phase.now = Phase.SENDING

    async def on_accepted(job: EditJob, accepted: Accepted) -> None:
        await keeper.accepted(job, accepted)
        phase.now = Phase.ACCEPTED

    hold = loader.hold(job, lane)  # the inputs' bytes and pixels stay budgeted until the job ends
    try:
        inputs = None
        if accepted is None:
            lane.breaker.check()  # a stopped lane's jobs fetch no sources
            inputs = await hold.load()
        else:
            keeper.track(job.job_key, accepted)
        outcome = await lane.run(job, inputs, accepted=accepted, on_accepted=on_accepted, on_intent=on_intent)
        phase.now = Phase.RECEIVED  # its answer is in hand: a stop lets it finish storing
        result = outcome.result
        judge = functools.partial(_judge, quality, job, result.outputs, inputs)
        stored = await keeper.store(job, result.outputs, config.output.format, judge)
        return EditResult(
            job=job,
            status="succeeded",
            run_id=run_id,
            outputs=stored,
            attempts=outcome.attempts,
            started_at=started,
            finished_at=time.time(),
            provider_job_id=result.provider_job_id or (accepted.provider_job_id if accepted else None),
            request_id=result.request_id,
            correlation_id=result.correlation_id,
            credits=result.credits_used,
            billing_risk=outcome.billing_risk,
        )
    except StorageError as error:
        if "stage" in error.context:
            return _failed(job, error, run_id, started, accepted, quote)
        keeper.not_sent()
        return None  # the journal's intent failed: nothing left this process
    except Exception as error:  # every job ends as a row; unexpected errors are recorded, not raised
        return _failed(job, error, run_id, started, accepted, quote)
    finally:
        hold.release()


def _judge(
    quality: QualityGate,
    job: EditJob,
    outputs: Sequence[OutputImage],
    inputs: JobInputs | None,
    stored: tuple[StoredOutput, ...],
) -> tuple[StoredOutput, ...]:
    return judge_outputs(quality, job, stored, outputs, inputs)


def _failed(
    job: EditJob, error: Exception, run_id: str, started: float, accepted: Accepted | None, quote: Quote
) -> EditResult:
    context = error.context if isinstance(error, RetouchError) else {}
    message = str(error) if isinstance(error, RetouchError) else f"unexpected {type(error).__name__}: {error}"
    stage = Stage(context["stage"]) if "stage" in context else (Stage.UNKNOWN if accepted else None)
    unknown = isinstance(error, SubmitOutcomeUnknown) or stage is Stage.ABANDONED
    risk = bool(context.get("billing_risk", False)) or unknown
    stopped = isinstance(error, LaneStopped) and not risk  # never sent (an earlier attempt may have been)
    credits = context.get("credits_used")
    return EditResult(
        job=job,
        status="unknown" if unknown else "skipped" if stopped else "failed",
        run_id=run_id,
        attempts=int(context.get("attempts", 0 if stopped else 1)),
        started_at=started,
        finished_at=time.time(),
        provider_job_id=context.get("provider_job_id") or (accepted.provider_job_id if accepted else None),
        request_id=context.get("request_id"),
        credits=float(credits) if isinstance(credits, int | float) else None,
        error_type=type(error).__name__,
        error_message=message[:2000],
        billing_risk=risk,
        billed=failure_billed(quote, stage, context.get("error_name")),
    )


def _skipped(job: EditJob, run_id: str, reason: str) -> EditResult:
    now = time.time()
    return EditResult(
        job=job,
        status="skipped",
        run_id=run_id,
        attempts=0,
        started_at=now,
        finished_at=now,
        error_type="BudgetExceeded",
        error_message=reason,
        credits=0.0,
        cost=0.0,
    )


def _earlier_keys(storage: Storage) -> set[str]:
    prior = prior_work(storage)
    return prior.done | prior.unknown


def _count(summary: ShardSummary, result: EditResult) -> None:
    summary.counts[result.status] = summary.counts.get(result.status, 0) + 1
    summary.images += len(result.outputs)
    summary.credits += result.credits or 0.0
    summary.cost += result.cost or 0.0
    summary.billing_risk += int(result.billing_risk)
