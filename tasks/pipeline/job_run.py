"""One job of a shard, from its inputs to its result row: sent through its lane, stored, judged, or failed."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence

from tasks.core.config import PipelineConfig
from tasks.core.errors import LaneStopped, RetouchError, StorageError, SubmitOutcomeUnknown
from tasks.core.models import Accepted, EditJob, EditResult, JobInputs, OutputImage, StoredOutput
from tasks.costs import Quote
from tasks.costs.billing import Stage, failure_billed
from tasks.pipeline.inputs import InputLoader
from tasks.pipeline.interrupt import Drain, Interrupted, JobPhase, Phase
from tasks.pipeline.keeper import Keeper
from tasks.pipeline.lane import ProviderLane
from tasks.pipeline.outputs import judge_outputs
from tasks.quality import QualityGate

__all__ = ["failed_row", "run_guarded", "run_job", "skipped_row"]


async def run_guarded(
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


async def run_job(
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
            return failed_row(job, error, run_id, started, accepted, quote)
        keeper.not_sent()
        return None  # the journal's intent failed: nothing left this process
    except Exception as error:  # every job ends as a row; unexpected errors are recorded, not raised
        return failed_row(job, error, run_id, started, accepted, quote)
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


def failed_row(
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


def skipped_row(job: EditJob, run_id: str, reason: str) -> EditResult:
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
