"""Pixapi image edits, an OpenAI-compatible gateway (providers.md §3).

Wire form: `POST {base}/v1/images/edits` (sync) or `POST {base}/v1/async/images/edits` (`mode: async`,
then poll `GET {base}/v1/tasks/{id}`), multipart/form-data, `Authorization: Bearer <key>`.
Pixapi takes no seed: a job's seed only tells repeated requests of one row and variant apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from tasks.core.errors import (
    AuthError,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from tasks.core.models import Accepted, EditJob, JobInputs, OutputImage, ProviderResult
from tasks.http import transport as wire
from tasks.providers import params as p
from tasks.providers.remote import RemoteProvider

__all__ = ["PixapiEdits"]

_SIZE = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")
_GPT_PIXELS = (655_360, 8_294_400)  # gpt-image custom sizes: pixel count range, multiples of 16, ratio <= 3:1
_SPECS: dict[str, p.Spec] = {
    "size": p.Text(),  # WxH or auto; checked against the model in _check_size
    "quality": p.Choice(("low", "medium", "high", "auto")),
    "response_format": p.Choice(("url", "b64_json")),
}
_RESERVED = {
    "n": "set count on the variant (sent as n)",
    "model": "set model on the variant",
    "prompt": "set prompt on the variant",
    "image": "set the image column in the catalog mapping",
}
# UNCONFIRMED: no credits field is documented; these are read when present (top level or in `usage`).
_CREDIT_FIELDS = ("credits_used", "costCredits", "cost_credits", "credits")


class PixapiEdits(RemoteProvider):
    """Edits through `/v1/images/edits`. Params: size, quality, response_format; model and n from the job."""

    name: ClassVar[str] = "pixapi.edits"
    default_base_url: ClassVar[str] = "https://api.pixapi.ai"
    known_options: ClassVar[frozenset[str]] = frozenset({"image_as_url"})
    error_names: ClassVar[Mapping[str, type[ProviderError]]] = {
        "invalid_request_error": InvalidRequest,
        "unauthorized": AuthError,
        "insufficient_credits": InsufficientCredits,
        "model_not_found": InvalidRequest,
        "prompt_rejected": ContentRejected,
        "rate_limited": RateLimited,
        "internal_error": ProviderUnavailable,
        "model_unavailable": ProviderUnavailable,
    }
    job_failures: ClassVar[Mapping[str, type[ProviderError]]] = {
        "prompt_rejected": ContentRejected,
        "insufficient_credits": InsufficientCredits,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # UNCONFIRMED: how a URL reaches the multipart edit ("depending on backend flow and model route").
        # With `options.image_as_url: true` an http(s) source is sent as the `image` form value.
        as_url = self.settings.options.get("image_as_url", False)
        if not isinstance(as_url, bool):
            raise self._bad_option("image_as_url", as_url, "true or false")
        self.accepts_urls = as_url  # type: ignore[misc]  # per instance: the executor reads it from the adapter

    @classmethod
    def check_params(cls, params: dict[str, Any], *, model: str | None, count: int, seed: int | None) -> None:
        if not model:
            raise ValueError(
                "pixapi.edits needs model on the variant, e.g. gemini-3-pro-image-preview or gpt-image-1.5"
            )
        p.check_range("count", count, 1, None)  # UNCONFIRMED: the largest n is not documented
        p.check_params(cls.name, params, _SPECS, _RESERVED)
        if "size" in params:
            _check_size(str(params["size"]), model)

    async def submit(self, job: EditJob, inputs: JobInputs) -> ProviderResult | Accepted:
        params = self._checked(job)
        context = self._context(job)
        # Async is chosen only by the path; the body is the sync endpoint's.
        path = "v1/async/images/edits" if self.settings.mode == "async" else "v1/images/edits"
        request = self._request(
            "POST", path, headers=self._submit_headers(job), files=self._fields(job, inputs, params)
        )
        response = await self._call(request, submit=True, context=context)
        body = wire.json_object(response) or {}
        outputs = _outputs(body)
        if outputs:
            return self._result(outputs, wire.id_text(body.get("id")), response, credits_used=_credits(body))
        # A task id counts only without `data`: a sync body whose data is unreadable must not be polled.
        task_id = wire.id_text(body.get("id")) if "data" not in body else None
        if task_id is None:
            raise self._unknown_outcome(response, context)
        return self._accepted(task_id, response)

    async def poll(self, accepted: Accepted) -> ProviderResult | None:
        response, body, context = await self._status(f"v1/tasks/{accepted.provider_job_id}", accepted)
        if body is None:  # an empty 202: still queued
            return None
        status = body.get("status")
        if status == "failed":
            raise self._job_failed(body, context, what=f"task {accepted.provider_job_id} failed")
        if status != "completed":
            return None  # UNCONFIRMED: intermediate names; anything not terminal is pending
        # UNCONFIRMED: where a completed task's results sit; read as the sync shape's `data[]`.
        outputs = _outputs(body)
        if not outputs:
            raise self._unreadable_poll(response, context)
        return self._result(outputs, accepted.provider_job_id, response, credits_used=_credits(body))

    def _fields(self, job: EditJob, inputs: JobInputs, params: dict[str, Any]) -> list[tuple[str, Any]]:
        assert job.model is not None  # check_params requires it
        fields: list[tuple[str, Any]] = [
            ("model", (None, job.model)),
            ("prompt", (None, job.prompt)),
            ("n", (None, str(job.count))),
        ]
        fields.extend((name, (None, p.form_value(value))) for name, value in sorted(params.items()))
        # No mask or reference-image field is documented for edits.
        self._refuse_input(job, "mask", inputs.mask)
        self._refuse_input(job, "image_context", inputs.image_context)
        image = inputs.image
        if self.accepts_urls and image.url:
            fields.append(("image", (None, image.url)))
        elif image.data is not None:
            fields.append(("image", (image.filename, image.data, image.media_type)))
        else:
            raise InvalidRequest(
                f"{self.name}: row {job.row_id}: the image bytes were not loaded", **self._context(job)
            )
        return fields

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _error_fields(self, body: dict[str, Any]) -> tuple[str | None, str]:
        # {"error": {"code": 402 | "insufficient_credits", "message", "type"?}}: `code` may be an int
        # (the HTTP status) or a string name; `type` is optional.
        error = body.get("error")
        if not isinstance(error, dict):
            return None, str(error or body.get("message") or "")
        kind, code = error.get("type"), error.get("code")
        name = kind if isinstance(kind, str) and kind else code if isinstance(code, str) and code else None
        return name, str(error.get("message") or "")


def _check_size(size: str, model: str) -> None:
    gpt = model.startswith("gpt-image")
    if size == "auto":
        if not gpt:
            raise ValueError(
                f"param size='auto' is accepted by gpt-image models only; {model} needs WxH, e.g. 1024x1024"
            )
        return
    match = _SIZE.match(size)
    if match is None:
        raise ValueError(f"param size={size!r} must be WxH (e.g. 1024x1024) or auto")
    if gpt:
        width, height = int(match[1]), int(match[2])
        if width % 16 or height % 16:
            raise ValueError(f"param size={size!r}: gpt-image sizes must be multiples of 16")
        low, high = _GPT_PIXELS
        if not low <= width * height <= high:
            raise ValueError(f"param size={size!r} has {width * height} pixels; gpt-image sizes need {low}..{high}")
        if max(width, height) > 3 * min(width, height):
            raise ValueError(f"param size={size!r}: gpt-image aspect ratio must be 3:1 or less")


def _outputs(body: dict[str, Any]) -> tuple[OutputImage, ...]:
    """`data[]` items: `url` (fetched later by the lane) or `b64_json` (decoded here); () if unreadable."""
    data = body.get("data")
    if not isinstance(data, list):
        return ()
    outputs = []
    for item in data:
        output = _output(item) if isinstance(item, dict) else None
        if output is None:
            return ()
        outputs.append(output)
    return tuple(outputs)


def _output(item: dict[str, Any]) -> OutputImage | None:
    url, b64 = item.get("url"), item.get("b64_json")
    if isinstance(url, str) and url:
        return OutputImage(data=None, format=wire.format_hint(url, "png"), source_url=url)
    decoded = wire.decode_base64_image(b64) if isinstance(b64, str) and b64 else None
    if decoded is None:
        return None
    data, fmt = decoded
    return OutputImage(data=data, format=fmt)


def _credits(body: dict[str, Any]) -> float | None:
    for where in (body, body.get("usage")):
        if isinstance(where, dict):
            for key in _CREDIT_FIELDS:
                value = where.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
    return None
