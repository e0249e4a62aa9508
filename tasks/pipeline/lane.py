"""One provider's lane: submit and poll through its adapter under its limiter and retry policy."""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from tasks.core.config import ProviderSettings
from tasks.core.errors import ProviderTimeout, RateLimited, RetouchError, RetryableProviderError, SubmitOutcomeUnknown
from tasks.core.models import Accepted, EditJob, JobInputs, OutputImage, ProviderResult
from tasks.http import AttemptLog, Clock, RateLimiter, RetryPolicy, retry_call
from tasks.pipeline.breaker import Breaker
from tasks.providers.base import Provider

__all__ = ["LaneOutcome", "ProviderLane"]

T = TypeVar("T")
OnAccepted = Callable[[EditJob, Accepted], Awaitable[None]]
OnIntent = Callable[[EditJob], Awaitable[None]]


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
            on_intent: awaited right before the submit is sent; if it raises, nothing is sent.
            on_accepted: awaited with an async job's id before its first poll.

        Raises:
            ProviderError: the job failed; its `attempts` says how many submits were made.
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
                    await on_intent(job)
                outcome, attempts, risk = await self._submit(job, inputs)
                if isinstance(outcome, ProviderResult):
                    return LaneOutcome(await self._fetch_outputs(outcome), attempts, risk)
                accepted = outcome
                await on_accepted(job, accepted)  # durable before the first poll
            result = await self._poll_until_done(job, accepted)
            return LaneOutcome(await self._fetch_outputs(result), attempts, risk)
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
        except Exception as error:
            if tried["risk"] and isinstance(error, RetouchError):
                error.billing_risk = True
            raise
        return outcome, log.attempts, bool(tried["risk"])

    async def _poll_until_done(self, job: EditJob, accepted: Accepted) -> ProviderResult:
        deadline = self.clock.monotonic() + self.settings.poll_deadline
        while True:
            await self.clock.sleep(self.settings.poll_interval)

            async def poll_once() -> ProviderResult | None:
                await self._throttle()
                return await self.adapter.poll(accepted)

            result, _ = await self._retried(poll_once)  # polls create nothing: always safe to retry
            if result is not None:
                return result
            if self.clock.monotonic() > deadline:
                raise ProviderTimeout(
                    f"{job.provider} job {accepted.provider_job_id} (row {job.row_id}) did not finish within "
                    f"poll_deadline={self.settings.poll_deadline:g}s",
                    provider=job.provider,
                    provider_job_id=accepted.provider_job_id,
                    row_id=job.row_id,
                )

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
