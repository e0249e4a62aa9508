"""ProviderLane on a scripted fake provider, a fake clock and a real rate limiter: what is re-sent, when."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

import httpx
import pytest

from tasks.core.config import ProviderSettings
from tasks.core.errors import (
    AuthError,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    PermanentProviderError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted, EditJob, ImageRef, InputImage, JobInputs, OutputImage, ProviderResult
from tasks.http import RateLimit, RateLimiter, RetryPolicy
from tasks.pipeline.lane import LaneOutcome, ProviderLane
from tasks.providers.base import Provider
from tests.fakes import FakeClock
from tests.helpers import make_png

PNG = make_png(size=(8, 8))
# Computed waits of 1, 2, 4 ... virtual seconds: distinguishable from a provider's Retry-After.
POLICY = RetryPolicy(attempts=5, base=1.0, cap=8.0, jitter=0.0, total=300.0)
POLL_INTERVAL = 2.0
POLL_DEADLINE = 30.0


def _done(job_id: str | None = None, *, url: str | None = None) -> ProviderResult:
    output = OutputImage(data=None, format="png", source_url=url) if url else OutputImage(data=PNG, format="png")
    return ProviderResult(outputs=(output,), provider_job_id=job_id)


class ScriptedProvider(Provider):
    """An adapter whose submits and polls play scripted outcomes in order: a value is returned, an
    exception raised. It records every call with the virtual time and the limiter's in-flight count."""

    name: ClassVar[str] = "scripted"

    def __init__(
        self,
        *,
        clock: FakeClock,
        client: httpx.AsyncClient,
        submits: Iterable[Any] = (),
        polls: Iterable[Any] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(settings=ProviderSettings(base_url="https://cdn.example.test"), client=client, api_key=None)
        self._clock = clock
        self._submits = iter(submits)
        self._polls = iter(polls)
        self._limiter = limiter
        self.calls: list[tuple[str, str, float]] = []  # (call, job key or provider job id, virtual time)
        self.in_flight_seen: list[int] = []

    def count(self, call: str) -> int:
        return sum(1 for name, _, _ in self.calls if name == call)

    async def submit(self, job: EditJob, inputs: JobInputs) -> ProviderResult | Accepted:
        self._record("submit", job.job_key)
        return _play(self._submits, "submit")

    async def poll(self, accepted: Accepted) -> ProviderResult | None:
        self._record("poll", accepted.provider_job_id)
        return _play(self._polls, "poll")

    async def fetch_output(self, output: OutputImage) -> OutputImage:
        self._record("fetch", output.source_url or "")
        return await super().fetch_output(output)  # the real GET and decode check, over the fake CDN

    def _record(self, call: str, what: str) -> None:
        self.calls.append((call, what, self._clock.monotonic()))
        if self._limiter is not None:
            self.in_flight_seen.append(self._limiter.in_flight)


class ScriptedEngine(ScriptedProvider):
    """The same script as an engine on this machine (as the local provider is): nothing it does is billed."""

    remote: ClassVar[bool] = False


def _play(script: Any, call: str) -> Any:
    step = next(script, _UNSCRIPTED)
    if step is _UNSCRIPTED:
        raise AssertionError(f"unscripted {call}: the lane called more often than the test allows")
    if isinstance(step, BaseException):
        raise step
    return step


_UNSCRIPTED = object()


def _cdn(*statuses: int) -> tuple[httpx.MockTransport, list[str]]:
    """A CDN answering GETs with `statuses` in turn (200 carries a PNG); and the URLs it was asked for."""
    answers, asked = iter(statuses), []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        status = next(answers)
        return httpx.Response(status, content=PNG if status == 200 else b"busy")

    return httpx.MockTransport(handler), asked


def _job(key: str = "job-1") -> EditJob:
    return EditJob(
        job_key=key,
        row_id=f"row-{key}",
        variant="v",
        provider="scripted",
        model=None,
        prompt="brighter",
        params_json="{}",
        seed=1,
        count=1,
        image=ImageRef("path", "/data/a.png"),
    )


INPUTS = JobInputs(image=InputImage(data=PNG, media_type="image/png"))


class Harness:
    """A lane over a ScriptedProvider, with a FakeClock and a real RateLimiter, run on one event loop."""

    def __init__(
        self,
        *,
        submits: Iterable[Any] = (),
        polls: Iterable[Any] = (),
        cdn: tuple[int, ...] = (),
        max_in_flight: int | None = 4,
        engine: type[ScriptedProvider] = ScriptedProvider,
        **settings: Any,
    ) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.limiter = RateLimiter(RateLimit(requests=100, max_in_flight=max_in_flight), clock=self.clock)
        self.settings = ProviderSettings(poll_interval=POLL_INTERVAL, poll_deadline=POLL_DEADLINE, **settings)
        self.transport, self.fetched = _cdn(*cdn)
        self.submits, self.polls = submits, polls
        self.journal: list[tuple[str, Accepted, float, int]] = []  # (job key, accepted, time, polls so far)
        self.provider: ScriptedProvider

    async def on_accepted(self, job: EditJob, accepted: Accepted) -> None:
        # Takes virtual time, so a lane that did not wait for it would poll before it finished.
        await self.clock.sleep(5.0)
        self.journal.append((job.job_key, accepted, self.clock.monotonic(), self.provider.count("poll")))

    def run(self, scenario: Callable[[ProviderLane], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            async with httpx.AsyncClient(transport=self.transport) as client:
                self.provider = self.engine(
                    clock=self.clock, client=client, submits=self.submits, polls=self.polls, limiter=self.limiter
                )
                lane = ProviderLane(
                    self.provider,
                    settings=self.settings,
                    policy=POLICY,
                    clock=self.clock,
                    limiter=self.limiter,
                    rng=random.Random(0),
                )
                return await scenario(lane)

        return asyncio.run(main())

    def run_job(self, job: EditJob | None = None, *, accepted: Accepted | None = None) -> LaneOutcome:
        job = job or _job()
        inputs = None if accepted is not None else INPUTS
        return self.run(lambda lane: lane.run(job, inputs, accepted=accepted, on_accepted=self.on_accepted))

    def fail_job(self, expected: type[BaseException]) -> Any:
        with pytest.raises(expected) as caught:
            self.run_job()
        return caught.value


# --- submits ---------------------------------------------------------------------------------------


def test_a_sync_result_returns_after_one_submit() -> None:
    lane = Harness(submits=[_done("sync-1")])

    outcome = lane.run_job()

    assert outcome.attempts == 1
    assert outcome.billing_risk is False
    assert outcome.result.outputs[0].data == PNG
    assert outcome.result.provider_job_id == "sync-1"
    assert lane.provider.count("submit") == 1
    assert lane.provider.count("poll") == 0
    assert lane.journal == []  # nothing to journal: the job finished in its submit


def test_an_async_job_is_journaled_before_its_first_poll_then_polled_every_interval() -> None:
    accepted = Accepted("scripted", "prov-77", request_id="req-1")
    lane = Harness(submits=[accepted], polls=[None, None, _done("prov-77")])

    outcome = lane.run_job()

    assert outcome.attempts == 1
    assert outcome.result.provider_job_id == "prov-77"
    # on_accepted was awaited to its end (5 virtual s) before any poll was sent.
    assert lane.journal == [("job-1", accepted, 5.0, 0)]
    assert [(name, what) for name, what, _ in lane.provider.calls] == [
        ("submit", "job-1"),
        ("poll", "prov-77"),
        ("poll", "prov-77"),
        ("poll", "prov-77"),
    ]
    poll_times = [at for name, _, at in lane.provider.calls if name == "poll"]
    assert poll_times == [5.0 + POLL_INTERVAL, 5.0 + 2 * POLL_INTERVAL, 5.0 + 3 * POLL_INTERVAL]


def test_a_rate_limited_submit_waits_what_the_provider_asked_and_tells_the_limiter() -> None:
    lane = Harness(submits=[RateLimited("429 slow down", retry_after=3), _done()])

    outcome = lane.run_job()

    assert outcome.attempts == 2
    assert lane.limiter.stats.rate_limited == 1
    submit_times = [at for name, _, at in lane.provider.calls if name == "submit"]
    # The policy alone would have waited 1 s (base=1); the provider's Retry-After of 3 s wins.
    assert submit_times[0] == 0.0
    assert submit_times[1] >= 3.0
    assert lane.clock.now >= 3.0


def test_unavailable_submits_are_retried_until_one_succeeds() -> None:
    lane = Harness(submits=[ProviderUnavailable("503"), ProviderUnavailable("503"), _done()])

    outcome = lane.run_job()

    assert outcome.attempts == 3
    assert lane.provider.count("submit") == 3
    assert outcome.billing_risk is False


@pytest.mark.parametrize("error_type", [InvalidRequest, InsufficientCredits, AuthError])
def test_a_permanent_error_is_raised_after_exactly_one_submit(error_type: type[PermanentProviderError]) -> None:
    lane = Harness(submits=[error_type("no", provider="scripted")])

    error = lane.fail_job(error_type)

    assert error.context["attempts"] == 1
    assert "billing_risk" not in error.context
    assert lane.provider.count("submit") == 1
    assert lane.clock.now == 0.0  # no backoff was slept either


def test_an_unknown_submit_outcome_is_never_resent_by_default() -> None:
    lane = Harness(submits=[SubmitOutcomeUnknown("connection reset after sending", provider="scripted"), _done()])

    error = lane.fail_job(SubmitOutcomeUnknown)

    assert lane.provider.count("submit") == 1
    assert error.context["attempts"] == 1
    assert error.context["billing_risk"] is True


def test_an_unknown_submit_outcome_is_resent_when_allowed_and_flagged_as_a_billing_risk() -> None:
    lane = Harness(submits=[SubmitOutcomeUnknown("no answer"), _done()], resubmit_unknown=True)

    outcome = lane.run_job()

    assert lane.provider.count("submit") == 2
    assert outcome.attempts == 2
    assert outcome.billing_risk is True


def test_a_resent_unknown_submit_that_then_fails_still_carries_the_billing_risk() -> None:
    lane = Harness(submits=[SubmitOutcomeUnknown("no answer"), InvalidRequest("bad size")], resubmit_unknown=True)

    error = lane.fail_job(InvalidRequest)

    assert lane.provider.count("submit") == 2
    assert error.context["attempts"] == 2
    assert error.context["billing_risk"] is True


def test_an_adapter_bug_after_a_remote_submit_ends_unknown_and_is_never_resent() -> None:
    lane = Harness(submits=[KeyError("status"), _done()], resubmit_unknown=True)

    error = lane.fail_job(SubmitOutcomeUnknown)

    assert lane.provider.count("submit") == 1
    assert error.context["billing_risk"] is True
    assert error.context["stage"] == "unknown"


def test_a_bug_in_an_engine_on_this_machine_fails_the_job_with_nothing_billed() -> None:
    lane = Harness(submits=[KeyError("band"), _done()], engine=ScriptedEngine)

    error = lane.fail_job(JobFailed)

    assert lane.provider.count("submit") == 1
    assert error.context.get("billing_risk", False) is False
    assert error.context["stage"] == "rejected"  # never created anywhere: a re-run edits the row again
    assert "KeyError" in error.message and "row-job-1" in error.message


# --- polls and outputs -------------------------------------------------------------------------------


def test_failed_polls_are_retried_without_a_second_submit() -> None:
    lane = Harness(
        submits=[Accepted("scripted", "prov-1")],
        polls=[ProviderUnavailable("502"), None, ProviderUnavailable("503"), _done("prov-1")],
    )

    outcome = lane.run_job()

    assert lane.provider.count("submit") == 1
    assert lane.provider.count("poll") == 4
    assert outcome.attempts == 1
    assert outcome.result.outputs[0].data == PNG


def test_a_job_that_never_finishes_times_out_at_the_poll_deadline_without_a_resubmit() -> None:
    lane = Harness(submits=[Accepted("scripted", "prov-slow")], polls=[None] * 100)

    error = lane.fail_job(ProviderTimeout)

    accepted_at = 5.0  # on_accepted took 5 virtual seconds; the deadline counts from the first poll wait
    assert accepted_at + POLL_DEADLINE <= lane.clock.now <= accepted_at + POLL_DEADLINE + POLL_INTERVAL
    assert error.context["provider_job_id"] == "prov-slow"
    assert lane.provider.count("submit") == 1
    assert lane.provider.count("poll") == POLL_DEADLINE / POLL_INTERVAL + 1


def test_an_output_url_whose_download_fails_is_fetched_again_not_resubmitted() -> None:
    url = "https://cdn.example.test/out/1.png"
    lane = Harness(submits=[_done("sync-9", url=url)], cdn=(503, 200))

    outcome = lane.run_job()

    assert lane.provider.count("submit") == 1
    assert lane.provider.count("fetch") == 2
    assert lane.fetched == [url, url]
    assert outcome.result.outputs == (OutputImage(data=PNG, format="png", source_url=url),)
    assert outcome.result.provider_job_id == "sync-9"


def test_an_async_output_url_is_fetched_after_the_last_poll() -> None:
    url = "https://cdn.example.test/out/2.png"
    lane = Harness(submits=[Accepted("scripted", "prov-2")], polls=[_done("prov-2", url=url)], cdn=(200,))

    outcome = lane.run_job()

    assert [name for name, _, _ in lane.provider.calls] == ["submit", "poll", "fetch"]
    assert outcome.result.outputs[0].data == PNG


def test_a_job_journaled_by_an_earlier_run_is_polled_to_completion_without_a_submit() -> None:
    earlier = Accepted("scripted", "prov-earlier")
    lane = Harness(polls=[None, _done("prov-earlier")])

    outcome = lane.run_job(accepted=earlier)

    assert lane.provider.count("submit") == 0
    assert [what for name, what, _ in lane.provider.calls if name == "poll"] == ["prov-earlier", "prov-earlier"]
    assert outcome.attempts == 0  # no submit was made by this run
    assert outcome.result.provider_job_id == "prov-earlier"
    assert lane.journal == []  # already journaled; not written again


# --- the in-flight slot ------------------------------------------------------------------------------


def test_the_in_flight_slot_is_held_from_submit_to_the_end_and_then_released() -> None:
    url = "https://cdn.example.test/out/3.png"
    lane = Harness(submits=[Accepted("scripted", "prov-3")], polls=[None, _done("prov-3", url=url)], cdn=(200,))

    lane.run_job()

    assert [name for name, _, _ in lane.provider.calls] == ["submit", "poll", "poll", "fetch"]
    assert lane.provider.in_flight_seen == [1, 1, 1, 1]
    assert lane.limiter.in_flight == 0


@pytest.mark.parametrize(
    ("submits", "polls", "error_type"),
    [
        ([InvalidRequest("bad")], [], InvalidRequest),
        ([SubmitOutcomeUnknown("no answer")], [], SubmitOutcomeUnknown),
        ([ProviderUnavailable("503") for _ in range(5)], [], ProviderUnavailable),
        ([Accepted("scripted", "prov-4")], [None] * 100, ProviderTimeout),
    ],
    ids=["permanent", "unknown", "retries-exhausted", "poll-deadline"],
)
def test_the_in_flight_slot_is_released_after_a_failure(
    submits: list[Any], polls: Any, error_type: type[ProviderError]
) -> None:
    lane = Harness(submits=submits, polls=polls)

    lane.fail_job(error_type)

    assert set(lane.provider.in_flight_seen) == {1}
    assert lane.limiter.in_flight == 0


def test_with_one_slot_a_second_job_is_not_submitted_until_the_first_has_finished() -> None:
    lane = Harness(
        submits=[Accepted("scripted", "prov-a"), Accepted("scripted", "prov-b")],
        polls=[None, _done("prov-a"), None, _done("prov-b")],
        max_in_flight=1,
    )

    async def both(provider_lane: ProviderLane) -> list[LaneOutcome]:
        return list(
            await asyncio.gather(
                *(
                    provider_lane.run(_job(key), INPUTS, accepted=None, on_accepted=lane.on_accepted)
                    for key in ("a", "b")
                )
            )
        )

    outcomes = lane.run(both)

    assert [outcome.result.provider_job_id for outcome in outcomes] == ["prov-a", "prov-b"]
    assert [(name, what) for name, what, _ in lane.provider.calls] == [
        ("submit", "a"),
        ("poll", "prov-a"),
        ("poll", "prov-a"),
        ("submit", "b"),
        ("poll", "prov-b"),
        ("poll", "prov-b"),
    ]
    assert lane.limiter.stats.peak_in_flight == 1
    assert lane.limiter.in_flight == 0
