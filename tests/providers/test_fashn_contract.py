"""FASHN `edit` adapter against the contract in providers.md §4, over MockTransport."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tasks.core.errors import (
    AuthError,
    ConcurrencyLimited,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted
from tasks.providers.fashn import FashnEdit
from tests.providers.provider_kit import KEY, PNG, Wire, assert_key_hidden, inputs, make_job, png_input, reply, run

BASE = "https://api.fashn.ai"
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
RUN = {"id": "123a87r9-u1", "error": None}


def submit(wire, job=None, job_inputs=None, **settings):  # type: ignore[no-untyped-def]
    job = job or make_job("fashn.edit")
    return run(FashnEdit, wire, lambda adapter: adapter.submit(job, job_inputs or inputs()), **settings)


def poll(wire, detail=None):  # type: ignore[no-untyped-def]
    accepted = Accepted(
        provider="fashn.edit", provider_job_id="123a87r9-u1", detail_json=json.dumps(detail or {"format": "png"})
    )
    return run(FashnEdit, wire, lambda adapter: adapter.poll(accepted))


def status(state: str, **fields: object) -> dict[str, object]:
    return {"id": "123a87r9-u1", "status": state, "output": None, "error": None, **fields}


# --- wire form -------------------------------------------------------------------------------


def test_run_posts_json_with_data_uri_inputs_and_bearer_auth() -> None:
    wire = Wire([reply(200, RUN)])
    job = make_job(
        "fashn.edit",
        params={"resolution": "2k", "generation_mode": "quality", "output_format": "jpeg", "return_base64": True},
    )
    accepted = submit(wire, job, inputs(mask=png_input(), image_context=png_input(url="https://img.example/ctx.jpg")))

    request = wire.last
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/v1/run")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Request-Id"] == "jk-0001"
    assert json.loads(request.content) == {
        "model_name": "edit",
        "inputs": {
            "image": PNG_URI,
            "prompt": "make the sky purple",
            "mask": PNG_URI,
            "image_context": "https://img.example/ctx.jpg",
            "seed": 7,
            "resolution": "2k",
            "generation_mode": "quality",
            "output_format": "jpeg",
            "return_base64": True,
        },
    }
    assert isinstance(accepted, Accepted)
    assert accepted.provider_job_id == "123a87r9-u1"
    assert json.loads(accepted.detail_json) == {"format": "jpeg"}


def test_public_url_passes_through_and_count_becomes_num_images() -> None:
    wire = Wire([reply(200, RUN)])
    submit(
        wire,
        make_job("fashn.edit", count=3, seed=None),
        inputs(image=png_input(url="https://img.example/a.png", data=None)),
    )
    sent = json.loads(wire.last.content)["inputs"]
    assert sent == {"image": "https://img.example/a.png", "prompt": "make the sky purple", "num_images": 3}


def test_webhook_url_is_a_query_param_and_mask_field_is_configurable() -> None:
    wire = Wire([reply(200, RUN)])
    options = {"webhook_url": "https://hooks.example/fashn?x=1", "mask_field": "mask_image"}
    submit(wire, job_inputs=inputs(mask=png_input()), options=options)
    assert wire.last.url.path == "/v1/run"
    assert wire.last.url.params["webhook_url"] == "https://hooks.example/fashn?x=1"
    assert "mask_image" in json.loads(wire.last.content)["inputs"]


def test_input_with_neither_url_nor_bytes_is_invalid_before_any_request() -> None:
    wire = Wire([])
    with pytest.raises(InvalidRequest):
        submit(wire, job_inputs=inputs(image=png_input(data=None)))
    assert wire.requests == []


# --- polling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["starting", "in_queue", "processing"])
def test_in_progress_is_pending(state: str) -> None:
    wire = Wire([reply(200, status(state))])
    assert poll(wire) is None
    assert (wire.last.method, str(wire.last.url)) == ("GET", f"{BASE}/v1/status/123a87r9-u1")
    assert wire.last.headers["Authorization"] == f"Bearer {KEY}"


def test_completed_returns_urls_unfetched_and_credits_used() -> None:
    body = status("completed", output=["https://cdn.fashn.ai/123a87r9-u1/output_0.png"])
    result = poll(Wire([reply(200, body, {"x-fashn-credits-used": "2"})]))
    assert [(o.data, o.source_url, o.format) for o in result.outputs] == [
        (None, "https://cdn.fashn.ai/123a87r9-u1/output_0.png", "png")
    ]
    assert (result.provider_job_id, result.credits_used) == ("123a87r9-u1", 2.0)


def test_completed_base64_outputs_are_decoded() -> None:
    jpeg_uri = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8fake").decode()
    result = poll(Wire([reply(200, status("completed", output=[PNG_URI, jpeg_uri]))]))
    assert [(o.data, o.format) for o in result.outputs] == [(PNG, "png"), (b"\xff\xd8fake", "jpeg")]


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        ("failed", {"name": "ImageLoadError", "message": "could not fetch image"}, JobFailed),
        ("failed", {"name": "ContentModerationError", "message": "blocked"}, ContentRejected),
        ("failed", {"name": "PipelineError", "message": "x"}, JobFailed),
        ("canceled", None, JobFailed),
        ("time_out", {"name": "PollingTimeout", "message": "x"}, JobFailed),
    ],
)
def test_terminal_failures_carry_the_error_name(state: str, error: object, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        poll(Wire([reply(200, status(state, error=error))]))
    assert type(info.value) is expected
    assert info.value.error_name == (error["name"] if isinstance(error, dict) else None)
    assert info.value.provider_job_id == "123a87r9-u1"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (reply(404, {"error": "NotFound", "message": "prediction not found"}), JobFailed),
        (reply(500, {"error": "InternalServerError", "message": "x"}), ProviderUnavailable),
        (reply(200, content=b"not json"), ProviderUnavailable),
        (reply(200, status("completed", output=[])), ProviderUnavailable),
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ReadError("reset"), ProviderUnavailable),
    ],
)
def test_poll_failures(answer: object, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        poll(Wire([answer]))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "expected"),
    [
        (400, "BadRequest", InvalidRequest),
        (401, "UnauthorizedAccess", AuthError),
        (404, "NotFound", InvalidRequest),
        (429, "RateLimitExceeded", RateLimited),
        (429, "ConcurrencyLimitExceeded", ConcurrencyLimited),
        (429, "OutOfCredits", InsufficientCredits),
        (500, "InternalServerError", ProviderUnavailable),
    ],
)
def test_api_errors_map_by_name(code: int, name: str, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        submit(Wire([reply(code, {"error": name, "message": "some text"}, {"Retry-After": "4"})]))
    assert type(info.value) is expected
    assert (info.value.status_code, info.value.error_name) == (code, name)
    if code == 429:
        assert info.value.retry_after == 4.0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("eof"),
        reply(200, content=b"<html>"),
        reply(200, {"id": None, "error": None}),
        reply(200, {"error": "OutOfCredits"}),
    ],
)
def test_run_without_a_readable_id_is_outcome_unknown(answer: object) -> None:
    with pytest.raises(SubmitOutcomeUnknown):
        submit(Wire([answer]))


def test_echoed_key_is_redacted() -> None:
    with pytest.raises(AuthError) as info:
        submit(Wire([reply(401, {"error": "UnauthorizedAccess", "message": f"invalid key {KEY}"})]))
    assert_key_hidden(info.value)


# --- params ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "model", "seed", "match"),
    [
        ({}, None, 2**32, r"seed=4294967296 .*0\.\.4294967295"),
        ({}, None, -1, "seed=-1"),
        ({}, "tryon-v1.6", 1, "always runs model_name 'edit'"),
        ({"resolution": "8k"}, None, 1, "resolution='8k' is not one of 1k, 2k, 4k"),
        ({"generation_mode": "slow"}, None, 1, "fast, balanced, quality"),
        ({"output_format": "webp"}, None, 1, "png, jpeg"),
        ({"return_base64": "yes"}, None, 1, "true or false"),
        ({"seed": 3}, None, 1, "set seeds on the variant"),
        ({"num_images": 2}, None, 1, "set count on the variant"),
        (
            {"guidance": 2},
            None,
            1,
            "unknown param 'guidance'.*known: generation_mode, output_format, resolution, return_base64",
        ),
    ],
)
def test_check_params_rejects(params: dict[str, object], model: str | None, seed: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FashnEdit.check_params(params, model=model, count=1, seed=seed)


def test_check_params_accepts_documented_values() -> None:
    FashnEdit.check_params(
        {"resolution": "4k", "generation_mode": "fast", "output_format": "png", "return_base64": False},
        model=None,
        count=2,
        seed=2**32 - 1,
    )
