"""One provider's lane: submit and poll through its adapter under its limiter and retry policy."""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from tasks.core.config import ProviderSettings
from tasks.core.errors import (
    JobFailed,
    MalformedReply,
    PermanentProviderError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    RetouchError,
    RetryableProviderError,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted, EditJob, JobInputs, OutputImage, ProviderResult
from tasks.costs.billing import Stage
from tasks.http import AttemptLog, Clock, RateLimiter, RetryPolicy, retry_call
from tasks.pipeline.breaker import Breaker
from tasks.providers.base import Provider

__all__ = ["LaneOutcome", "ProviderLane", "answer_unreadable", "engine_failed"]

T = TypeVar("T")
OnAccepted = Callable[[EditJob, Accepted], Awaitable[None]]
OnIntent = Callable[[EditJob], Awaitable[None]]
# Rounds of retried polls that may fail in a row before a job is left to the next run (its id stays in
# the journal, so that run polls it again): waiting out poll_deadline on a status reply that breaks the
# same way every time would hold a run for minutes; five rounds of a 20% outage happen once in 10^17.
_FAILED_POLL_ROUNDS = 5


@dataclass(frozen=True)
class LaneOutcome:
    result: ProviderResult
    attempts: int
    billing_risk: bool


class ProviderLane:
    """Runs jobs on one provider: rate-limited, retried where safe, async jobs polled to the end.

    Safety rule for submits (every contract in providers.md agrees): an error *answer* means nothing
    was created, so it may be retried; no answer (`SubmitOutcomeUnknown`) may mean a billed job, so it is
    re-sent only when `settings.resubmit_unknown` allows, and the outcome then carries `billing_risk`.

    Every error a job ends with carries its `stage` (a `costs.billing.Stage`): how far the job got
    at the provider, which decides whether it was charged.
    """

    def __init__(
        self,
        adapter: Provider,
        *,
        settings: ProviderSettings,
        policy: RetryPolicy,
        clock: Clock,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.adapter = adapter
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.limiter = limiter
        self.rng = rng or random.Random()
        # Shared by the run's shards when given; a lane of its own otherwise.
        self.breaker = breaker or Breaker(adapter.name)

    async def run(
        self,
        job: EditJob,
        inputs: JobInputs | None,
        *,
        accepted: Accepted | None,
        on_accepted: OnAccepted,
        on_intent: OnIntent | None = None,
    ) -> LaneOutcome:
        """Submit `job` (or resume polling `accepted`, recorded by an earlier run) until it ends.

        Args:
            on_intent: awaited right before the submit is sent (the journal's intent); if it raises,
                nothing is sent.
            on_accepted: awaited with an async job's id before its first poll.

        Raises:
            ProviderError: the job failed; its `attempts` says how many submits were made and its `stage`
                how far it got.
            LaneStopped: the provider's breaker is open and the job was not sent.
        """
        if accepted is None:
            self.breaker.check()  # before queueing for a rate token the job will never use
        if self.limiter is not None:
            # The slot is held from submit to the end, since providers count jobs in flight (FASHN's 6).
            await self.limiter.acquire()
        try:
            attempts, risk = 0, False
            if accepted is None:
                assert inputs is not None, "a job that was never accepted needs its inputs"
                if on_intent is not None:
                    await on_intent(job)  # durable before a byte of the submit leaves
                outcome, attempts, risk = await self._submit(job, inputs)
                if isinstance(outcome, ProviderResult):
                    return LaneOutcome(await self._delivered(outcome), attempts, risk)
                accepted = outcome
                await on_accepted(job, accepted)  # durable before the first poll
            result = await self._poll_until_done(job, accepted)
            return LaneOutcome(await self._delivered(result), attempts, risk)
        finally:
            if self.limiter is not None:
                self.limiter.release()

    async def _submit(self, job: EditJob, inputs: JobInputs) -> tuple[ProviderResult | Accepted, int, bool]:
        tried = {"attempts": 0, "risk": False}

        async def attempt() -> ProviderResult | Accepted:
            tried["attempts"] += 1
            if tried["attempts"] > 1:  # the first attempt's rate token came with acquire()
                await self._throttle()
            try:
                async with self.breaker.admit():
                    return await self.adapter.submit(job, inputs)
            except SubmitOutcomeUnknown as error:
                tried["risk"] = True
                if not self.settings.resubmit_unknown:
                    raise
                raise ProviderTimeout(
                    f"{error.message}; re-sending as resubmit_unknown allows", **error.context
                ) from error

        try:
            outcome, log = await self._retried(attempt)
        except RetouchError as error:
            if tried["risk"]:
                error.billing_risk = True
            if error.stage is None:
                error.stage = _submit_stage(error)
            raise
        except Exception as error:  # an adapter bug: after a remote request left, it may have been billed
            raise (answer_unreadable(job, error) if self.adapter.remote else engine_failed(job, error)) from error
        return outcome, log.attempts, bool(tried["risk"])

    async def _poll_until_done(self, job: EditJob, accepted: Accepted) -> ProviderResult:
        deadline = self.clock.monotonic() + self.settings.poll_deadline
        failed_rounds = 0
        while True:
            await self.clock.sleep(self.settings.poll_interval)

            async def poll_once() -> ProviderResult | None:
                await self._throttle()
                return await self.adapter.poll(accepted)

            try:
                result, _ = await self._retried(poll_once)  # polls create nothing: always safe to retry
            except MalformedReply as error:
                raise _staged(error, Stage.DELIVERED, accepted) from None  # answered about a job we cannot read
            except RetryableProviderError as error:
                # An outage says nothing about the job: keep polling it. Failing it after a streak of
                # 5xx once dropped a paid job's journal entry, and the next run bought it again.
                failed_rounds += 1
                if failed_rounds < _FAILED_POLL_ROUNDS and self.clock.monotonic() <= deadline:
                    continue
                raise _staged(error, Stage.ABANDONED, accepted) from None
            except PermanentProviderError as error:
                raise _staged(error, Stage.VERDICT, accepted) from None
            failed_rounds = 0
            if result is not None:
                return result
            if self.clock.monotonic() > deadline:
                raise ProviderTimeout(
                    f"{job.provider} job {accepted.provider_job_id} (row {job.row_id}) did not finish within "
                    f"poll_deadline={self.settings.poll_deadline:g}s; its id stays in the journal and the next "
                    "run polls it again",
                    provider=job.provider,
                    provider_job_id=accepted.provider_job_id,
                    row_id=job.row_id,
                    stage=Stage.ABANDONED,
                    billing_risk=True,
                )

    async def _delivered(self, result: ProviderResult) -> ProviderResult:
        """Fetch the outputs of a job the provider finished (and charged); a failure here is billed."""
        try:
            return await self._fetch_outputs(result)
        except RetouchError as error:
            error.stage = Stage.DELIVERED
            error.credits_used = result.credits_used
            if isinstance(error, ProviderError):
                error.provider_job_id = error.provider_job_id or result.provider_job_id
                error.request_id = error.request_id or result.request_id
            raise

    async def _fetch_outputs(self, result: ProviderResult) -> ProviderResult:
        if all(output.data is not None for output in result.outputs):
            return result
        fetched: list[OutputImage] = []
        for output in result.outputs:
            # Output URLs are plain GETs on a CDN, outside the provider's API rate limit.
            image, _ = await self._retried(functools.partial(self.adapter.fetch_output, output))
            fetched.append(image)
        return replace(result, outputs=tuple(fetched))

    async def _retried(self, fn: Callable[[], Awaitable[T]]) -> tuple[T, AttemptLog]:
        try:
            value, log = await retry_call(fn, self.policy, clock=self.clock, rng=self.rng, on_retry=self._on_retry)
        except Exception as error:
            if isinstance(error, RetryableProviderError):
                self._observe(error)
            self.breaker.record(error)
            raise
        self.breaker.record(None)
        if self.limiter is not None:
            self.limiter.on_success()
        return value, log

    def _on_retry(self, attempt: int, error: BaseException, wait: float) -> None:
        self._observe(error)

    def _observe(self, error: BaseException) -> None:
        if isinstance(error, RateLimited) and self.limiter is not None:
            self.limiter.on_rate_limited(error.retry_after)

    async def _throttle(self) -> None:
        if self.limiter is not None:
            await self.limiter.throttle()


def _submit_stage(error: RetouchError) -> Stage:
    """Where a submit's error leaves the job: a sync job's failure verdict, no answer, or an answered refusal."""
    if isinstance(error, JobFailed):
        return Stage.VERDICT  # the provider ran the job and ended it failed (Picsart sync `status: error`)
    if isinstance(error, SubmitOutcomeUnknown) or error.billing_risk:
        return Stage.UNKNOWN
    return Stage.REJECTED


def _staged(error: ProviderError, stage: Stage, accepted: Accepted) -> ProviderError:
    error.stage = stage
    error.provider_job_id = error.provider_job_id or accepted.provider_job_id
    if stage is Stage.ABANDONED:
        error.billing_risk = True
    return error


def answer_unreadable(job: EditJob, error: BaseException) -> SubmitOutcomeUnknown:
    """An unexpected error after a submit left (an adapter's or an engine's bug): the job may exist and be
    billed, so it ends unknown with its billing risk, never to be re-sent on its own."""
    return SubmitOutcomeUnknown(
        f"{job.provider}: reading the submit's answer failed ({type(error).__name__}); the job may exist "
        "and be billed, so it is not re-sent",
        provider=job.provider,
        row_id=job.row_id,
        stage=Stage.UNKNOWN,
        billing_risk=True,
    )


def engine_failed(job: EditJob, error: BaseException) -> JobFailed:
    """An unexpected error in an engine on this machine (the local provider's): nothing left the machine and
    nothing was billed, so the job fails like any other and the next run edits its row again."""
    return JobFailed(
        f"{job.provider}: editing row {job.row_id} failed unexpectedly ({type(error).__name__}: {error}); "
        "nothing was billed; run again to retry it",
        provider=job.provider,
        row_id=job.row_id,
        stage=Stage.REJECTED,
    )
