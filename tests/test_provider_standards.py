"""The provider standards: every registered provider, through the real lane, over real HTTP to the sandbox.

Each standard runs for every provider it applies to; the local provider has no HTTP, so only the
success and multi-output standards apply to it.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tasks.core.config import ProviderSettings, RetrySettings
from tasks.core.errors import AuthError, InsufficientCredits, InvalidRequest, JobFailed, ProviderError
from tasks.core.models import EditJob, ImageRef, InputImage, JobInputs
from tasks.http import RateLimit, RateLimiter, RetryPolicy, SystemClock
from tasks.pipeline.lane import LaneOutcome, ProviderLane
from tasks.providers.registry import known_providers, provider_class
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.helpers import make_png

KEY = "sandbox-key"
BROKE = "broke-key-0000"
REMOTE = [name for name in known_providers() if provider_class(name).remote]
SANDBOX_PATH = {
    "picsart.edit": "picsart",
    "picsart.outpaint": "picsart",
    "pixapi.edits": "pixapi",
    "fashn.edit": "fashn",
}
ASYNC_ONLY = {"fashn.edit"}
FAST = {"async_seconds": 0.05, "keys": {KEY: {"credits": 1_000_000}, BROKE: {"credits": 0}}}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    settings = SandboxSettings.model_validate({name: dict(FAST) for name in ("picsart", "pixapi", "fashn")})
    with SandboxServer(settings) as server:
        yield server


@pytest.fixture
def fresh(sandbox: SandboxServer) -> SandboxServer:
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    return sandbox


def job_for(name: str, *, count: int = 1, prompt: str = "sepia", params: dict[str, Any] | None = None) -> EditJob:
    model = {"pixapi.edits": "gemini-2.5-flash-image"}.get(name)
    return EditJob(
        job_key=f"std-{name}-{count}-{prompt}",
        row_id="r1",
        variant="v",
        provider=name,
        model=model,
        prompt=prompt,
        params_json=__import__("json").dumps(params or {}),
        seed=7,
        count=count,
        image=ImageRef("bytes", "x"),
    )


def image_inputs(data: bytes | None = None) -> JobInputs:
    return JobInputs(image=InputImage(data=data or make_png(size=(48, 32)), media_type="image/png"))


def run_lane(
    name: str,
    sandbox: SandboxServer | None,
    job: EditJob,
    inputs: JobInputs,
    *,
    key: str = KEY,
    mode: str | None = None,
    limiter: RateLimiter | None = None,
    attempts: int = 4,
) -> LaneOutcome:
    base = f"{sandbox.provider_urls[SANDBOX_PATH[name]]}" if sandbox and name in SANDBOX_PATH else None
    settings = ProviderSettings(
        base_url=base,
        mode=mode,
        poll_interval=0.02,
        poll_deadline=10,
        timeout=5,
        retry=RetrySettings(attempts=attempts, base=0.01, cap=0.2, jitter=0),
    )
    policy = RetryPolicy(attempts=attempts, base=0.01, cap=0.2, jitter=0)

    async def go() -> LaneOutcome:
        async with httpx.AsyncClient(timeout=5) as client:
            adapter = provider_class(name)(settings=settings, client=client, api_key=key)
            lane = ProviderLane(adapter, settings=settings, policy=policy, clock=SystemClock(), limiter=limiter)

            async def noted(job: EditJob, accepted: Any) -> None:
                noted.calls.append(accepted)  # type: ignore[attr-defined]

            noted.calls = []  # type: ignore[attr-defined]
            outcome = await lane.run(job, inputs, accepted=None, on_accepted=noted)
            run_lane.accepted = noted.calls  # type: ignore[attr-defined]
            return outcome

    return asyncio.run(go())


def decoded(data: bytes | None) -> Image.Image:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def modes(name: str) -> list[str]:
    return ["async"] if name in ASYNC_ONLY else ["sync", "async"]


@pytest.mark.parametrize(("name", "mode"), [(n, m) for n in REMOTE for m in modes(n)] + [("local", "sync")])
def test_success_gives_edited_decodable_images(fresh: SandboxServer, name: str, mode: str) -> None:
    source = make_png(size=(48, 32))
    outcome = run_lane(name, fresh, job_for(name), image_inputs(source), mode=mode)
    (image,) = outcome.result.outputs
    assert decoded(image.data).size[0] > 0
    assert decoded(image.data).convert("RGB").tobytes() != decoded(source).convert("RGB").tobytes()
    assert outcome.attempts == 1
    if name != "local" and mode == "async":
        assert run_lane.accepted and run_lane.accepted[0].provider_job_id  # made durable before polling
        assert outcome.result.provider_job_id == run_lane.accepted[0].provider_job_id


@pytest.mark.parametrize("name", [*REMOTE, "local"])
def test_multi_output(fresh: SandboxServer, name: str) -> None:
    outcome = run_lane(name, fresh, job_for(name, count=3), image_inputs(), mode=None if name in ASYNC_ONLY else "sync")
    images = [decoded(output.data) for output in outcome.result.outputs]
    assert len(images) == 3


@pytest.mark.parametrize("name", REMOTE)
def test_credits_are_recorded_and_match_the_sandbox_ledger(fresh: SandboxServer, name: str) -> None:
    outcome = run_lane(name, fresh, job_for(name, count=2), image_inputs(), mode=None if name in ASYNC_ONLY else "sync")
    (entry,) = httpx.get(f"{fresh.base_url}/_sandbox/ledger").json()["entries"]
    assert entry["request_id"] == job_for(name, count=2).job_key  # billed once, under the job's request id
    result = outcome.result
    if name == "fashn.edit":  # x-fashn-credits-used on the terminal status reply
        assert result.credits_used == entry["credits"] == 2
    elif name.startswith("picsart"):  # X-Picsart-Credit-Available on every reply
        assert result.credits_available == 1_000_000 - entry["credits"]
    else:  # Pixapi documents no credits field or header: nothing is invented
        assert result.credits_used is None and entry["credits"] == 4


@pytest.mark.parametrize("name", REMOTE)
def test_wrong_key_is_an_auth_error_that_never_shows_the_key(
    fresh: SandboxServer, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-definitely-not-valid-123456"
    with pytest.raises(AuthError) as caught:
        run_lane(name, fresh, job_for(name), image_inputs(), key=secret)
    assert secret not in str(caught.value) and secret not in repr(caught.value.context)
    assert all(secret not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("name", REMOTE)
def test_out_of_credits_is_its_own_error_and_is_not_retried(fresh: SandboxServer, name: str) -> None:
    with pytest.raises(InsufficientCredits) as caught:
        run_lane(name, fresh, job_for(name), image_inputs(), key=BROKE)
    assert caught.value.context["attempts"] == 1


@pytest.mark.parametrize("name", REMOTE)
def test_bad_input_is_a_permanent_error(fresh: SandboxServer, name: str) -> None:
    with pytest.raises((InvalidRequest, JobFailed)) as caught:
        run_lane(name, fresh, job_for(name), image_inputs(b"not an image at all"))
    assert caught.value.context.get("attempts", 1) == 1


@pytest.mark.parametrize("name", REMOTE)
def test_5xx_and_429_are_retried_to_success_without_double_billing(fresh: SandboxServer, name: str) -> None:
    faults = {"seed": 3, "http_5xx": 0.3, "http_429": 0.3, "on_reads": False}
    httpx.put(f"{fresh.base_url}/_sandbox/faults", json=faults).raise_for_status()
    limiter = RateLimiter(RateLimit(requests=200, period=1))
    outcomes = [
        run_lane(name, fresh, job_for(name, prompt=f"blur {i}"), image_inputs(), limiter=limiter, attempts=12)
        for i in range(6)
    ]
    ledger = httpx.get(f"{fresh.base_url}/_sandbox/ledger").json()["entries"]
    assert len(ledger) == len({entry["request_id"] for entry in ledger}) == 6
    assert sum(outcome.attempts for outcome in outcomes) > 6  # the faults really happened
    assert limiter.stats.rate_limited >= 1  # the 429s reached the limiter


@pytest.fixture(scope="module")
def limited_sandbox() -> Iterator[SandboxServer]:
    limited = {**FAST, "rate_limit": {"per_second": 1, "burst": 1}}
    with SandboxServer(
        SandboxSettings.model_validate({n: dict(limited) for n in ("picsart", "pixapi", "fashn")})
    ) as server:
        yield server


@pytest.mark.parametrize("name", REMOTE)
def test_rate_limit_headers_are_read_and_honoured(limited_sandbox: SandboxServer, name: str) -> None:
    from tasks.core.errors import RateLimited

    httpx.post(f"{limited_sandbox.base_url}/_sandbox/reset").raise_for_status()
    settings = ProviderSettings(base_url=limited_sandbox.provider_urls[SANDBOX_PATH[name]], timeout=5)

    async def two_quick_submits() -> RateLimited:
        async with httpx.AsyncClient() as client:
            adapter = provider_class(name)(settings=settings, client=client, api_key=KEY)
            await adapter.submit(job_for(name, prompt="blur 1"), image_inputs())
            with pytest.raises(RateLimited) as caught:
                await adapter.submit(job_for(name, prompt="blur 2"), image_inputs())
            return caught.value

    limited = asyncio.run(two_quick_submits())
    assert limited.context["status_code"] == 429 and 0 < limited.retry_after <= 1.0  # the provider's own wait
    limiter = RateLimiter(RateLimit(requests=50, period=1))  # told 50× too much: the 429s must slow it down
    for index in range(3):
        run_lane(
            name,
            limited_sandbox,
            job_for(name, prompt=f"blur {index + 3}"),
            image_inputs(),
            limiter=limiter,
            attempts=20,
        )
    assert limiter.stats.rate_limited >= 1 and limiter.current_rate < 50


def test_every_registered_provider_is_covered() -> None:
    assert set(REMOTE) | {"local"} == set(known_providers())
    assert issubclass(AuthError, ProviderError)
