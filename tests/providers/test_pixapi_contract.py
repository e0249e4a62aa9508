"""Pixapi edits adapter against the contract in providers.md §3, over MockTransport."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tasks.core.errors import (
    AuthError,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted, ProviderResult
from tasks.providers.pixapi import PixapiEdits
from tests.providers.provider_kit import (
    KEY,
    PNG,
    Wire,
    assert_key_hidden,
    form,
    inputs,
    make_job,
    png_input,
    reply,
    run,
    text_fields,
)

BASE = "https://api.pixapi.ai"
MODEL = "gemini-3-pro-image-preview"
SYNC = {"created": 1760000000, "data": [{"url": "https://cdn.pixapi.ai/generated/abc.png"}]}


def job(**overrides):  # type: ignore[no-untyped-def]
    return make_job("pixapi.edits", **{"model": MODEL, **overrides})


def submit(wire, the_job=None, job_inputs=None, **settings):  # type: ignore[no-untyped-def]
    the_job = the_job or job()
    return run(PixapiEdits, wire, lambda adapter: adapter.submit(the_job, job_inputs or inputs()), **settings)


def poll(wire):  # type: ignore[no-untyped-def]
    accepted = Accepted(provider="pixapi.edits", provider_job_id="task_123")
    return run(PixapiEdits, wire, lambda adapter: adapter.poll(accepted))


# --- wire form -------------------------------------------------------------------------------


def test_sync_edit_sends_openai_style_multipart_with_bearer_auth() -> None:
    wire = Wire([reply(200, SYNC, {"x-ratelimit-remaining": "9", "x-request-id": "req-7"})])
    the_job = job(count=2, params={"size": "1024x1024", "quality": "high", "response_format": "url"})
    result = submit(wire, the_job)

    request = wire.last
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/v1/images/edits")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-Request-Id"] == "jk-0001"
    assert text_fields(request) == {
        "model": MODEL,
        "prompt": "make the sky purple",
        "n": "2",
        "quality": "high",
        "response_format": "url",
        "size": "1024x1024",
    }
    assert form(request)["image"] == [("a.png", "image/png", PNG)]
    assert "seed" not in form(request)  # Pixapi has no seed

    assert isinstance(result, ProviderResult)
    assert [(o.data, o.source_url, o.format) for o in result.outputs] == [
        (None, "https://cdn.pixapi.ai/generated/abc.png", "png")
    ]
    assert result.request_id == "req-7"
    assert result.credits_used is None  # no credits field in the documented body
    assert json.loads(result.rate_limit_json) == {"x-ratelimit-remaining": "9"}


def test_b64_json_outputs_are_decoded_bytes() -> None:
    body = {"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
    result = submit(Wire([reply(200, body)]), job(params={"response_format": "b64_json"}))
    assert (result.outputs[0].data, result.outputs[0].format, result.outputs[0].source_url) == (PNG, "png", None)


def test_credits_field_is_read_when_present() -> None:
    body = {**SYNC, "usage": {"credits": 8}}
    assert submit(Wire([reply(200, body)])).credits_used == 8.0


def test_async_mode_posts_to_the_async_path_and_returns_the_task_id() -> None:
    wire = Wire([reply(202, {"id": "task_123", "status": "queued"})])
    accepted = submit(wire, mode="async")
    assert str(wire.last.url) == f"{BASE}/v1/async/images/edits"
    assert "async" not in wire.last.url.params and "async" not in text_fields(wire.last)
    assert isinstance(accepted, Accepted) and accepted.provider_job_id == "task_123"


def test_url_sending_is_an_option() -> None:
    url_input = inputs(image=png_input(url="https://img.example/a.png"))
    wire = Wire([reply(200, SYNC), reply(200, SYNC)])
    submit(wire, job_inputs=url_input)
    assert form(wire.last)["image"][0][2] == PNG  # default: upload the file
    submit(wire, job_inputs=url_input, options={"image_as_url": True})
    assert text_fields(wire.last)["image"] == "https://img.example/a.png"


def test_accepts_urls_follows_the_option() -> None:
    async def flag(adapter):  # type: ignore[no-untyped-def]
        return adapter.accepts_urls

    assert run(PixapiEdits, Wire([]), flag) is False
    assert run(PixapiEdits, Wire([]), flag, options={"image_as_url": True}) is True


def test_mask_is_rejected_before_any_request() -> None:
    wire = Wire([])
    with pytest.raises(InvalidRequest, match="mask"):
        submit(wire, job_inputs=inputs(mask=png_input()))
    assert wire.requests == []


# --- polling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "processing", "running", None])
def test_non_terminal_task_is_pending(status: str | None) -> None:
    wire = Wire([reply(200, {"id": "task_123", "status": status})])
    assert poll(wire) is None
    assert (wire.last.method, str(wire.last.url)) == ("GET", f"{BASE}/v1/tasks/task_123")
    assert wire.last.headers["Authorization"] == f"Bearer {KEY}"


def test_completed_task_returns_its_data() -> None:
    result = poll(Wire([reply(200, {"id": "task_123", "status": "completed", **SYNC})]))
    assert result.provider_job_id == "task_123"
    assert result.outputs[0].source_url == "https://cdn.pixapi.ai/generated/abc.png"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": 422, "type": "prompt_rejected", "message": "policy"}, ContentRejected),
        ({"code": "insufficient_credits", "message": "top up"}, InsufficientCredits),
        ({"code": 500, "type": "internal_error", "message": "boom"}, JobFailed),
        ({"code": 400, "message": "no type"}, JobFailed),
    ],
)
def test_failed_task_maps_its_error(error: dict[str, object], expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        poll(Wire([reply(200, {"id": "task_123", "status": "failed", "error": error})]))
    assert info.value.provider_job_id == "task_123"


@pytest.mark.parametrize(
    "answer",
    [
        reply(200, {"status": "completed"}),
        reply(200, content=b"oops"),
        reply(503, {"error": {"code": 503, "type": "model_unavailable"}}),
    ],
)
def test_unreadable_or_unavailable_poll_is_retryable(answer: httpx.Response) -> None:
    with pytest.raises(ProviderUnavailable):
        poll(Wire([answer]))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (400, {"code": 400, "message": "missing prompt", "type": "invalid_request_error"}, InvalidRequest),
        (401, {"code": 401, "message": "bad key", "type": "unauthorized"}, AuthError),
        (402, {"code": 402, "message": "no credits", "type": "insufficient_credits"}, InsufficientCredits),
        (402, {"code": "insufficient_credits", "message": "no credits"}, InsufficientCredits),
        (404, {"code": 404, "message": "unknown model", "type": "model_not_found"}, InvalidRequest),
        (422, {"code": 422, "message": "policy", "type": "prompt_rejected"}, ContentRejected),
        (429, {"code": 429, "message": "slow", "type": "rate_limited"}, RateLimited),
        (429, {"code": "rate_limited", "message": "slow"}, RateLimited),
        (500, {"code": 500, "message": "boom", "type": "internal_error"}, ProviderUnavailable),
        (503, {"code": 503, "message": "down", "type": "model_unavailable"}, ProviderUnavailable),
    ],
)
def test_error_answers_map_by_status_and_name(status: int, error: dict[str, object], expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        submit(Wire([reply(status, {"error": error}, {"Retry-After": "5"})]))
    assert type(info.value) is expected
    assert info.value.status_code == status
    if expected is RateLimited:
        assert info.value.retry_after == 5.0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("slow"),
        reply(200, content=b"<html>"),
        reply(200, {"created": 1, "data": []}),
        reply(200, {"created": 1, "data": [{"b64_json": "not base64!"}]}),
        reply(202, {"status": "queued"}),
    ],
)
def test_submit_without_a_readable_answer_is_outcome_unknown(answer: object) -> None:
    with pytest.raises(SubmitOutcomeUnknown):
        submit(Wire([answer]))


def test_echoed_key_is_redacted() -> None:
    with pytest.raises(AuthError) as info:
        submit(Wire([reply(401, {"error": {"code": 401, "type": "unauthorized", "message": f"key {KEY} unknown"}})]))
    assert_key_hidden(info.value)


# --- params ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "model", "match"),
    [
        ({}, None, "needs model"),
        ({"n": 2}, MODEL, "set count on the variant"),
        ({"style": "vivid"}, MODEL, "unknown param 'style'.*known: quality, response_format, size"),
        ({"quality": "ultra"}, MODEL, "quality='ultra' is not one of low, medium, high, auto"),
        ({"response_format": "png"}, MODEL, "url, b64_json"),
        ({"size": "big"}, MODEL, "WxH"),
        ({"size": "auto"}, MODEL, "gpt-image models only"),
        ({"size": "1000x1000"}, "gpt-image-2", "multiples of 16"),
        (
            {"size": "512x512"},
            "gpt-image-2",
            r"size='512x512' has 262144 pixels; gpt-image sizes need 655360\.\.8294400",
        ),
        ({"size": "3840x1008"}, "gpt-image-2", "3:1"),
    ],
)
def test_check_params_rejects(params: dict[str, object], model: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PixapiEdits.check_params(params, model=model, count=1, seed=0)


def test_check_params_accepts_documented_values() -> None:
    PixapiEdits.check_params({"size": "3840x2160", "quality": "low"}, model=MODEL, count=4, seed=None)
    PixapiEdits.check_params(
        {"size": "auto", "quality": "auto", "response_format": "b64_json"}, model="gpt-image-2", count=1, seed=1
    )
    PixapiEdits.check_params({"size": "1536x1024"}, model="gpt-image-1.5", count=1, seed=1)
