"""Picsart GenAI painting adapters: Edit Image with a Prompt and Outpaint Image (providers.md §1, §2).

Wire form: `POST {base}/painting/edit|outpaint`, multipart/form-data, header `X-Picsart-API-Key`.
One URL serves sync and async: `settings.mode: async` sends `Prefer: respond-async`, but the reply is
always read by status and shape (200 + `data[]` = done, 202 / an id = poll `GET {base}/painting/{id}`).
Picsart takes no seed: a job's seed only tells repeated requests of one row and variant apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from tasks.core.errors import InsufficientCredits, InvalidRequest, ProviderError
from tasks.core.formats import parse_format
from tasks.core.models import Accepted, EditJob, InputImage, JobInputs, OutputImage, ProviderResult
from tasks.http import transport as wire
from tasks.providers import params as p
from tasks.providers.remote import RemoteProvider

__all__ = ["PicsartEdit", "PicsartOutpaint"]

URL_MAX_LENGTH = 2083  # image_url / mask_url: "length between 1 and 2083"
_FORMATS = ("JPG", "PNG", "WEBP")
_ANCHORS = (*tuple(f"{x}-{y}" for x in ("left", "center", "right") for y in ("top", "middle", "bottom")), "pattern")
_RESERVED = {
    "count": "set count on the variant (1..10)",
    "model": "set model on the variant",
    "prompt": "set prompt on the variant",
    "mode": "set providers.<name>.mode (sent as the Prefer header)",
}
_COMMON: dict[str, p.Spec] = {"format": p.Choice(_FORMATS, case_sensitive=False)}
_WATERMARK: dict[str, p.Spec] = {
    "watermark_enabled": p.Bool(),
    "watermark_url": p.Text(max_length=URL_MAX_LENGTH, url=True),
    "watermark_anchor_point": p.Choice(_ANCHORS),
    "watermark_width": p.IntRange(1),
    "watermark_height": p.IntRange(1),
    "watermark_opacity": p.IntRange(0, 100),
    "watermark_angle": p.NumberRange(0, 360),
    "watermark_padding_x": p.IntRange(0),
    "watermark_padding_y": p.IntRange(0),
}


class _PicsartPainting(RemoteProvider):
    """What Edit and Outpaint share: auth, fields, 200-vs-202 branching, polling, errors."""

    default_base_url: ClassVar[str] = "https://genai-api.picsart.io/v1"
    accepts_urls: ClassVar[bool] = True
    endpoint: ClassVar[str]
    param_specs: ClassVar[Mapping[str, p.Spec]]
    known_options: ClassVar[frozenset[str]] = frozenset({"prefer_wait"})
    reset_header: ClassVar[str | None] = "X-Picsart-Ratelimit-Reset-Time"
    correlation_header: ClassVar[str | None] = "X-Picsart-Correlation-Id"
    credits_available_header: ClassVar[str | None] = "X-Picsart-Credit-Available"
    balance_path: ClassVar[str | None] = "balance"  # GET /v1/balance -> {"credits": n} (providers.md §1)
    # The older quota page answers free-tier exhaustion with 429 + an Apigee fault, not 402.
    error_names: ClassVar[Mapping[str, type[ProviderError]]] = {
        "policies.ratelimit.QuotaViolation": InsufficientCredits
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        wait = self.settings.options.get("prefer_wait")
        if wait is not None and (not isinstance(wait, int) or isinstance(wait, bool) or wait < 0):
            raise self._bad_option("prefer_wait", wait, "a whole number of seconds >= 0")

    @classmethod
    def check_params(cls, params: dict[str, Any], *, model: str | None, count: int, seed: int | None) -> None:
        p.check_range("count", count, 1, 10)
        if model is not None:
            p.Text().check("model", model)
        p.check_params(cls.name, params, cls.param_specs, _RESERVED)

    async def submit(self, job: EditJob, inputs: JobInputs) -> ProviderResult | Accepted:
        params = self._checked(job)
        context = self._context(job)
        headers = {**self._submit_headers(job), **self._prefer()}
        request = self._request("POST", self.endpoint, headers=headers, files=self._fields(job, inputs, params))
        response = await self._call(request, submit=True, context=context)
        return self._read_submit(response, _output_format(params), context)

    async def poll(self, accepted: Accepted) -> ProviderResult | None:
        fmt = self._accepted_format(accepted, "jpeg")
        response, body, context = await self._status(f"painting/{accepted.provider_job_id}", accepted)
        if response.status_code == 202:
            return None
        assert body is not None  # _status raised for an unreadable 200
        if body.get("status") == "error":
            raise self._failed(body, response, context)
        outputs = _outputs(body, fmt)
        if outputs:
            return self._result(outputs, _job_id(body) or accepted.provider_job_id, response)
        if body.get("status") == "success":
            raise self._unreadable_poll(response, context)  # done, yet no readable data[]
        return None  # 200 with a non-terminal status ("processing", ...): still pending

    def _prefer(self) -> dict[str, str]:
        # UNCONFIRMED: the largest `wait=N` the gateway honours; `prefer_wait` is passed as given.
        wait = self.settings.options.get("prefer_wait")
        parts = ["respond-async"] if self.settings.mode == "async" else []
        if wait is not None:
            parts.append(f"wait={wait}")
        return {"Prefer": ", ".join(parts)} if parts else {}

    def _fields(self, job: EditJob, inputs: JobInputs, params: dict[str, Any]) -> list[tuple[str, Any]]:
        # Every value goes in as a (None, value) part so the body is multipart even with no file.
        fields: list[tuple[str, Any]] = [("prompt", (None, job.prompt)), ("count", (None, str(job.count)))]
        if job.model:
            fields.append(("model", (None, job.model)))
        for name, value in sorted(params.items()):
            fields.append((name, (None, value.upper() if name == "format" else p.form_value(value))))
        fields.append(self._source("image", "image_url", inputs.image, job))
        fields.extend(self._extra_inputs(job, inputs))
        return fields

    def _extra_inputs(self, job: EditJob, inputs: JobInputs) -> list[tuple[str, Any]]:
        self._refuse_input(job, "mask", inputs.mask)
        self._refuse_input(job, "image_context", inputs.image_context)
        return []

    def _source(self, file_field: str, url_field: str, image: InputImage, job: EditJob) -> tuple[str, Any]:
        """The part for one input: its public URL when short enough, else its bytes."""
        if image.url and len(image.url) <= URL_MAX_LENGTH:
            return url_field, (None, image.url)
        if image.data is not None:
            return file_field, (image.filename, image.data, image.media_type)
        length = len(image.url or "")
        raise InvalidRequest(
            f"{self.name}: row {job.row_id}: {url_field} is {length} characters long (at most {URL_MAX_LENGTH}) "
            "and the bytes were not loaded; use a shorter URL or a local/s3 copy",
            **self._context(job, field=url_field),
        )

    def _read_submit(self, response: httpx.Response, fmt: str, context: dict[str, Any]) -> ProviderResult | Accepted:
        body = wire.json_object(response)
        if body is None:
            raise self._unknown_outcome(response, context)
        if body.get("status") == "error":
            raise self._failed(body, response, context)
        outputs = _outputs(body, fmt) if response.status_code == 200 else ()
        if outputs:
            return self._result(outputs, _job_id(body), response)
        job_id = _job_id(body)
        if job_id is None:
            raise self._unknown_outcome(response, context)
        return self._accepted(job_id, response, output_format=fmt)

    def _failed(self, body: dict[str, Any], response: httpx.Response, context: dict[str, Any]) -> ProviderError:
        # UNCONFIRMED: a failed job's body; read as `status: "error"` plus the usual message/detail.
        context = {**context, "provider_job_id": context.get("provider_job_id") or _job_id(body)}
        return self._job_failed(body, context, what="job ended with status error", response=response)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"X-Picsart-API-Key": key}

    def _credits_of(self, body: dict[str, Any]) -> float | None:
        return self._as_credits(body.get("credits"))

    def _error_fields(self, body: dict[str, Any]) -> tuple[str | None, str]:
        fault = body.get("fault")
        if isinstance(fault, dict):  # the old Apigee quota body: {"fault": {"faultstring", "detail": {"errorcode"}}}
            detail = fault.get("detail")
            code = detail.get("errorcode") if isinstance(detail, dict) else None
            return (str(code) if code else None), str(fault.get("faultstring") or "")
        texts = [str(body[key]) for key in ("message", "detail") if body.get(key)]
        return None, ": ".join(texts)


class PicsartEdit(_PicsartPainting):
    """Edit Image with a Prompt. Params: format, watermark_* (see providers.md §1)."""

    name: ClassVar[str] = "picsart.edit"
    endpoint: ClassVar[str] = "painting/edit"
    param_specs: ClassVar[Mapping[str, p.Spec]] = {**_COMMON, **_WATERMARK}


class PicsartOutpaint(_PicsartPainting):
    """Outpaint Image; the job's mask (optional) selects mask mode. Params: format, negative_prompt."""

    name: ClassVar[str] = "picsart.outpaint"
    endpoint: ClassVar[str] = "painting/outpaint"
    param_specs: ClassVar[Mapping[str, p.Spec]] = {**_COMMON, "negative_prompt": p.Text()}  # deprecated, still sent
    known_options: ClassVar[frozenset[str]] = frozenset({"prefer_wait", "mask_fields"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # UNCONFIRMED (providers.md §2): the seeds' product page and the Python SDK name the mask fields
        # `mask` / `mask_url`; the OpenAPI spec and MCP reference say `mask_image` / `mask_image_url`.
        # `options.mask_fields` picks the file field; the URL field is that name + "_url".
        self.mask_field = str(self.settings.options.get("mask_fields", "mask"))
        if self.mask_field not in ("mask", "mask_image"):
            raise self._bad_option("mask_fields", self.mask_field, "mask or mask_image")

    def _extra_inputs(self, job: EditJob, inputs: JobInputs) -> list[tuple[str, Any]]:
        self._refuse_input(job, "image_context", inputs.image_context)
        if inputs.mask is None:
            return []  # single-image mode: the RGBA image alone
        return [self._source(self.mask_field, f"{self.mask_field}_url", inputs.mask, job)]


def _output_format(params: dict[str, Any]) -> str:
    # check_params allowed only the API's JPG, PNG, WEBP (any case); its default is JPG.
    return parse_format(str(params.get("format", "JPG"))) or "jpeg"


def _job_id(body: dict[str, Any]) -> str | None:
    # The GenAI async id is `inference_id`; the docs' stale `mode` text says `transaction_id`.
    return wire.id_text(body.get("inference_id")) or wire.id_text(body.get("transaction_id"))


def _outputs(body: dict[str, Any], fmt: str) -> tuple[OutputImage, ...]:
    """The images of a success body; `data` is a list here (a single object on other Picsart APIs)."""
    data = body.get("data")
    items = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
    outputs = []
    for item in items:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url:
            return ()  # a malformed entry: treat the whole body as unreadable rather than drop an image
        outputs.append(OutputImage(data=None, format=wire.format_hint(str(item.get("id") or url), fmt), source_url=url))
    return tuple(outputs)
