"""Picsart GenAI Edit / Outpaint adapters against the contract in providers.md §1–§2, over MockTransport."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tasks.core.errors import (
    AuthError,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted, ProviderResult
from tasks.providers.picsart import PicsartEdit, PicsartOutpaint
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

BASE = "https://genai-api.picsart.io/v1"
HEADERS = {
    "X-Picsart-Correlation-Id": "corr-42",
    "X-Picsart-Credit-Available": "187",
    "X-Picsart-Ratelimit-Available": "499",
    "X-Picsart-Ratelimit-Limit": "500",
    "X-Picsart-Ratelimit-Reset-Time": "60",
}
SUCCESS = {
    "status": "success",
    "data": [
        {"id": "a1b2.jpg", "url": "https://cdn.picsart.io/a1b2.jpg"},
        {"id": "c3d4.png", "url": "https://cdn.picsart.io/c3d4"},
    ],
}
PROCESSING = {"status": "processing", "inference_id": "inf-1"}


def submit(cls, wire, job=None, job_inputs=None, **settings):  # type: ignore[no-untyped-def]
    job = job or make_job(cls.name)
    return run(cls, wire, lambda adapter: adapter.submit(job, job_inputs or inputs()), **settings)


def poll(wire, detail=None, **settings):  # type: ignore[no-untyped-def]
    accepted = Accepted(
        provider="picsart.edit", provider_job_id="inf-1", detail_json=json.dumps(detail or {"format": "png"})
    )
    return run(PicsartEdit, wire, lambda adapter: adapter.poll(accepted), **settings)


# --- wire form -------------------------------------------------------------------------------


def test_sync_edit_sends_multipart_with_key_header_and_parses_the_data_list() -> None:
    wire = Wire([reply(200, SUCCESS, HEADERS)])
    job = make_job(
        "picsart.edit",
        model="urn:air:sdxl:model:fluxai:flux_kontext_pro-image-to-image@1",
        count=2,
        params={"format": "png", "watermark_enabled": True, "watermark_opacity": 30},
    )
    result = submit(PicsartEdit, wire, job)

    request = wire.last
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/painting/edit")
    assert request.headers["X-Picsart-API-Key"] == KEY
    assert "authorization" not in request.headers
    assert "prefer" not in request.headers
    assert request.headers["X-Request-Id"] == "jk-0001"
    assert text_fields(request) == {
        "prompt": "make the sky purple",
        "count": "2",
        "model": "urn:air:sdxl:model:fluxai:flux_kontext_pro-image-to-image@1",
        "format": "PNG",
        "watermark_enabled": "true",
        "watermark_opacity": "30",
    }
    assert form(request)["image"] == [("a.png", "image/png", PNG)]
    assert "image_url" not in form(request)

    assert isinstance(result, ProviderResult)
    assert [(o.data, o.source_url, o.format) for o in result.outputs] == [
        (None, "https://cdn.picsart.io/a1b2.jpg", "jpeg"),  # never downloaded inside submit
        (None, "https://cdn.picsart.io/c3d4", "png"),
    ]
    assert (result.correlation_id, result.request_id, result.credits_available) == ("corr-42", "corr-42", 187.0)
    assert json.loads(result.rate_limit_json) == {
        "x-picsart-ratelimit-available": "499",
        "x-picsart-ratelimit-limit": "500",
        "x-picsart-ratelimit-reset-time": "60",
    }


def test_model_is_omitted_when_the_job_has_none_and_format_defaults_to_jpeg() -> None:
    wire = Wire([reply(200, {"status": "success", "data": [{"id": "x", "url": "https://cdn.picsart.io/x"}]})])
    result = submit(PicsartEdit, wire)
    assert text_fields(wire.last) == {"prompt": "make the sky purple", "count": "1"}
    assert result.outputs[0].format == "jpeg"


def test_async_mode_sends_prefer_and_a_202_becomes_accepted() -> None:
    wire = Wire([reply(202, PROCESSING, HEADERS)])
    accepted = submit(PicsartEdit, wire, make_job("picsart.edit", params={"format": "WEBP"}), mode="async")
    assert wire.last.headers["Prefer"] == "respond-async"
    assert isinstance(accepted, Accepted)
    assert (accepted.provider_job_id, accepted.correlation_id, accepted.credits_available) == (
        "inf-1",
        "corr-42",
        187.0,
    )
    assert json.loads(accepted.detail_json) == {"format": "webp"}


def test_prefer_wait_option_is_appended() -> None:
    wire = Wire([reply(202, PROCESSING)])
    submit(PicsartEdit, wire, mode="async", options={"prefer_wait": 20})
    assert wire.last.headers["Prefer"] == "respond-async, wait=20"


def test_sync_request_answered_202_is_still_accepted() -> None:
    assert isinstance(submit(PicsartEdit, Wire([reply(202, PROCESSING)])), Accepted)


def test_async_request_answered_200_with_data_is_a_result() -> None:
    assert isinstance(submit(PicsartEdit, Wire([reply(200, SUCCESS)]), mode="async"), ProviderResult)


def test_200_processing_body_with_an_id_is_accepted() -> None:
    assert submit(PicsartEdit, Wire([reply(200, PROCESSING)])).provider_job_id == "inf-1"


def test_transaction_id_is_the_fallback_id() -> None:
    accepted = submit(PicsartEdit, Wire([reply(202, {"status": "processing", "transaction_id": "tx-9"})]))
    assert accepted.provider_job_id == "tx-9"


def test_public_url_is_sent_as_image_url() -> None:
    wire = Wire([reply(202, PROCESSING)])
    submit(PicsartEdit, wire, job_inputs=inputs(image=png_input(url="https://img.example/a.png", data=None)))
    assert text_fields(wire.last)["image_url"] == "https://img.example/a.png"
    assert "image" not in form(wire.last)


def test_over_long_url_uploads_bytes_when_loaded() -> None:
    wire = Wire([reply(202, PROCESSING)])
    long_url = "https://img.example/" + "a" * 2100
    submit(PicsartEdit, wire, job_inputs=inputs(image=png_input(url=long_url)))
    assert form(wire.last)["image"][0][2] == PNG
    assert "image_url" not in form(wire.last)


def test_over_long_url_without_bytes_is_invalid_before_any_request() -> None:
    wire = Wire([])
    long_url = "https://img.example/" + "a" * 2100
    with pytest.raises(InvalidRequest, match="2083"):
        submit(PicsartEdit, wire, job_inputs=inputs(image=png_input(url=long_url, data=None)))
    assert wire.requests == []


def test_edit_rejects_a_mask_before_any_request() -> None:
    wire = Wire([])
    with pytest.raises(InvalidRequest, match="mask"):
        submit(PicsartEdit, wire, job_inputs=inputs(mask=png_input()))
    assert wire.requests == []


def test_outpaint_sends_mask_file_and_negative_prompt_to_its_endpoint() -> None:
    wire = Wire([reply(202, PROCESSING)])
    job = make_job("picsart.outpaint", params={"negative_prompt": "blurry"})
    submit(PicsartOutpaint, wire, job, inputs(mask=png_input()))
    assert str(wire.last.url) == f"{BASE}/painting/outpaint"
    assert text_fields(wire.last)["negative_prompt"] == "blurry"
    assert form(wire.last)["mask"] == [("a.png", "image/png", PNG)]


def test_outpaint_mask_url_and_configurable_field_names() -> None:
    wire = Wire([reply(202, PROCESSING), reply(202, PROCESSING)])
    mask = png_input(url="https://img.example/m.png", data=None)
    submit(PicsartOutpaint, wire, make_job("picsart.outpaint"), inputs(mask=mask))
    assert text_fields(wire.last)["mask_url"] == "https://img.example/m.png"
    submit(
        PicsartOutpaint,
        wire,
        make_job("picsart.outpaint"),
        inputs(mask=png_input()),
        options={"mask_fields": "mask_image"},
    )
    assert "mask_image" in form(wire.last) and "mask" not in form(wire.last)


def test_outpaint_without_mask_is_single_image_mode() -> None:
    wire = Wire([reply(202, PROCESSING)])
    submit(PicsartOutpaint, wire, make_job("picsart.outpaint"))
    assert set(form(wire.last)) == {"prompt", "count", "image"}


# --- polling ---------------------------------------------------------------------------------


def test_poll_gets_the_painting_endpoint_and_202_is_pending() -> None:
    wire = Wire([reply(202, PROCESSING)])
    assert poll(wire) is None
    assert (wire.last.method, str(wire.last.url)) == ("GET", f"{BASE}/painting/inf-1")
    assert wire.last.headers["X-Picsart-API-Key"] == KEY


def test_poll_200_processing_is_pending_and_success_is_a_result() -> None:
    assert poll(Wire([reply(200, PROCESSING)])) is None
    result = poll(Wire([reply(200, SUCCESS, HEADERS)]))
    assert result.provider_job_id == "inf-1"
    assert [o.source_url for o in result.outputs] == ["https://cdn.picsart.io/a1b2.jpg", "https://cdn.picsart.io/c3d4"]
    assert result.outputs[1].format == "png"  # from the accepted job's requested format


def test_poll_status_error_is_job_failed() -> None:
    with pytest.raises(JobFailed, match="moderation") as info:
        poll(Wire([reply(200, {"status": "error", "message": "Failed", "detail": "moderation"}, HEADERS)]))
    assert info.value.provider_job_id == "inf-1"
    assert info.value.correlation_id == "corr-42"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (reply(404, {"code": 404, "message": "Not Found", "detail": "unknown id"}), JobFailed),
        (reply(500, {"code": 500, "message": "Internal", "detail": "x"}), ProviderUnavailable),
        (reply(200, content=b"<html>"), ProviderUnavailable),
        (reply(200, {"status": "success", "data": []}), ProviderUnavailable),
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.RemoteProtocolError("eof"), ProviderUnavailable),
    ],
)
def test_poll_failures(answer: object, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        poll(Wire([answer]))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"code": 400, "message": "Bad Request", "detail": "prompt is required"}, InvalidRequest),
        (401, {"code": 401, "message": "Unauthorized", "detail": "bad key"}, AuthError),
        (403, {"code": 403, "message": "Forbidden", "detail": "no access"}, AuthError),
        (402, {"message": "Payment Required"}, InsufficientCredits),
        (404, {"code": 404, "message": "Not Found", "detail": "x"}, InvalidRequest),
        (413, {"code": 413, "message": "Too Large", "detail": "x"}, InvalidRequest),
        (415, {"code": 415, "message": "Unsupported", "detail": "x"}, InvalidRequest),
        (422, {"code": 422, "message": "Unprocessable", "detail": "count out of range"}, InvalidRequest),
        (429, {"code": 429, "message": "Too Many Requests", "detail": "slow down"}, RateLimited),
        (500, {"code": 500, "message": "Internal Server Error", "detail": "x"}, ProviderUnavailable),
        (503, None, ProviderUnavailable),
    ],
)
def test_error_answers_map_by_status(status: int, body: object, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        submit(PicsartEdit, Wire([reply(status, body, HEADERS)]))
    error = info.value
    assert type(error) is expected
    assert (error.status_code, error.correlation_id, error.row_id, error.provider) == (
        status,
        "corr-42",
        "row-1",
        "picsart.edit",
    )


def test_old_quota_fault_on_429_is_insufficient_credits() -> None:
    fault = {"fault": {"faultstring": "quota exceeded", "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}}
    with pytest.raises(InsufficientCredits) as info:
        submit(PicsartEdit, Wire([reply(429, fault)]))
    assert info.value.error_name == "policies.ratelimit.QuotaViolation"


def test_rate_limited_reads_the_reset_header_as_seconds_or_epoch() -> None:
    with pytest.raises(RateLimited) as info:
        submit(PicsartEdit, Wire([reply(429, {"code": 429}, {"X-Picsart-Ratelimit-Reset-Time": "12"})]))
    assert info.value.retry_after == 12.0
    epoch_ms = str(int((time.time() + 30) * 1000))
    with pytest.raises(RateLimited) as info:
        submit(PicsartEdit, Wire([reply(429, {"code": 429}, {"X-Picsart-Ratelimit-Reset-Time": epoch_ms})]))
    assert 25 < info.value.retry_after <= 30
    with pytest.raises(RateLimited) as info:
        submit(
            PicsartEdit, Wire([reply(429, {"code": 429}, {"Retry-After": "3", "X-Picsart-Ratelimit-Reset-Time": "60"})])
        )
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("eof"),
        reply(200, content=b"<html>gateway</html>"),
        reply(200, {"status": "success"}),
        reply(202, {"status": "processing"}),
        reply(200, {"status": "success", "data": [{"id": "x"}]}),
    ],
)
def test_submit_without_a_readable_answer_is_outcome_unknown(answer: object) -> None:
    with pytest.raises(SubmitOutcomeUnknown) as info:
        submit(PicsartEdit, Wire([answer]))
    assert info.value.row_id == "row-1"


def test_echoed_key_is_redacted_from_error_messages() -> None:
    with pytest.raises(AuthError) as info:
        submit(
            PicsartEdit, Wire([reply(401, {"code": 401, "message": "Unauthorized", "detail": f"key {KEY} is invalid"})])
        )
    assert_key_hidden(info.value)
    assert "api_key_env" in str(info.value)


# --- params ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "params", "count", "match"),
    [
        (PicsartEdit, {}, 11, r"count=11 .*1\.\.10"),
        (PicsartEdit, {}, 0, r"count=0 .*1\.\.10"),
        (PicsartEdit, {"count": 2}, 2, "set count on the variant"),
        (PicsartEdit, {"format": "gif"}, 1, "format='gif' is not one of JPG, PNG, WEBP"),
        (PicsartEdit, {"watermark_opacity": 101}, 1, r"watermark_opacity=101 .*0\.\.100"),
        (PicsartEdit, {"watermark_width": 0}, 1, "watermark_width=0"),
        (PicsartEdit, {"watermark_angle": 400}, 1, r"0\.\.360"),
        (PicsartEdit, {"watermark_anchor_point": "middle"}, 1, "left-top"),
        (PicsartEdit, {"watermark_enabled": "yes"}, 1, "true or false"),
        (
            PicsartEdit,
            {"negative_prompt": "x"},
            1,
            "unknown param 'negative_prompt'.*known: format, watermark_anchor_point",
        ),
        (PicsartOutpaint, {"watermark_enabled": True}, 1, "known: format, negative_prompt"),
    ],
)
def test_check_params_rejects_out_of_range(
    cls: type[PicsartEdit], params: dict[str, object], count: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        cls.check_params(params, model=None, count=count, seed=0)


def test_check_params_accepts_documented_values() -> None:
    PicsartEdit.check_params(
        {
            "format": "webp",
            "watermark_enabled": True,
            "watermark_anchor_point": "pattern",
            "watermark_angle": 45.5,
            "watermark_padding_x": 0,
        },
        model="urn:air:openai:model:openai:gpt-image-1-image-to-image@1",
        count=10,
        seed=None,
    )
    PicsartOutpaint.check_params({"negative_prompt": "distorted faces", "format": "JPG"}, model=None, count=1, seed=3)
