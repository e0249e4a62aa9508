"""FASHN AI model `edit`: always async, JSON in, prediction id out, polled to the end (providers.md §4).

Wire form: `POST {base}/v1/run` with `{"model_name": "edit", "inputs": {...}}` (JSON, `Authorization:
Bearer <key>`, `?webhook_url=` when configured), then `GET {base}/v1/status/{id}`. Images go in as a
public URL or a `data:<type>;base64,` URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tasks.core.errors import (
    AuthError,
    ConcurrencyLimited,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from tasks.core.models import Accepted, EditJob, InputImage, JobInputs, OutputImage, ProviderResult
from tasks.http import transport as wire
from tasks.providers import params as p
from tasks.providers.remote import RemoteProvider

__all__ = ["FashnEdit"]

SEED_MAX = 2**32 - 1
_SPECS: dict[str, p.Spec] = {
    # '2k' is in the newest docs page only; the SDK v0.6.0 type lists '1k' | '4k'.
    "resolution": p.Choice(("1k", "2k", "4k")),
    "generation_mode": p.Choice(("fast", "balanced", "quality")),
    "output_format": p.Choice(("png", "jpeg")),
    "return_base64": p.Bool(),
}
_RESERVED = {
    "seed": "set seeds on the variant",
    "num_images": "set count on the variant",
    "image": "set the image column in the catalog mapping",
    "mask": "set the mask column in the catalog mapping",
    "mask_image": "set the mask column in the catalog mapping",
    "image_context": "set the image_context column in the catalog mapping",
    "prompt": "set prompt on the variant",
    "webhook_url": "set providers.fashn.edit.options.webhook_url",
}
_FAILED = ("failed", "canceled", "time_out")  # UNCONFIRMED whether the server sends the last two; terminal anyway


class FashnEdit(RemoteProvider):
    """FASHN `edit`. Params: resolution, generation_mode, output_format, return_base64; seed, count
    (as num_images), mask and image_context come from the job."""

    name: ClassVar[str] = "fashn.edit"
    default_base_url: ClassVar[str] = "https://api.fashn.ai"
    accepts_urls: ClassVar[bool] = True
    known_options: ClassVar[frozenset[str]] = frozenset({"webhook_url", "mask_field"})
    credits_used_header: ClassVar[str | None] = "x-fashn-credits-used"
    balance_path: ClassVar[str | None] = "v1/credits"  # {"credits": {"total", "subscription", "on_demand"}}
    error_names: ClassVar[Mapping[str, type[ProviderError]]] = {
        "BadRequest": InvalidRequest,
        "UnauthorizedAccess": AuthError,
        "RateLimitExceeded": RateLimited,
        "ConcurrencyLimitExceeded": ConcurrencyLimited,
        "OutOfCredits": InsufficientCredits,  # FASHN uses 429 here, never 402
        "InternalServerError": ProviderUnavailable,
        # NotFound is left to the status: 404 on a submit is InvalidRequest, on a status check JobFailed.
    }
    job_failures: ClassVar[Mapping[str, type[ProviderError]]] = {
        "ContentModerationError": ContentRejected,
        "NSFWError": ContentRejected,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options = self.settings.options
        self.webhook_url: str | None = options.get("webhook_url")
        # UNCONFIRMED: the newest docs and the SDK name the mask `mask`; the oldest page `mask_image`.
        self.mask_field = str(options.get("mask_field", "mask"))
        if self.webhook_url is not None and not str(self.webhook_url).startswith(("http://", "https://")):
            raise self._bad_option("webhook_url", self.webhook_url, "an http(s) URL")
        if self.mask_field not in ("mask", "mask_image"):
            raise self._bad_option("mask_field", self.mask_field, "mask or mask_image")

    @classmethod
    def check_params(cls, params: dict[str, Any], *, model: str | None, count: int, seed: int | None) -> None:
        if model not in (None, "edit"):
            raise ValueError(f"model {model!r}: fashn.edit always runs model_name 'edit'; leave model unset")
        p.check_range("count", count, 1, None)  # UNCONFIRMED: num_images' range is not documented
        if seed is not None:
            p.check_range("seed", seed, 0, SEED_MAX)
        p.check_params(cls.name, params, _SPECS, _RESERVED)

    async def submit(self, job: EditJob, inputs: JobInputs) -> Accepted:
        params = self._checked(job)
        context = self._context(job)
        body = {"model_name": "edit", "inputs": {**self._inputs(job, inputs), **params}}
        query = {"webhook_url": self.webhook_url} if self.webhook_url else None
        request = self._request("POST", "v1/run", headers=self._submit_headers(job), json=body, params=query)
        response = await self._call(request, submit=True, context=context)
        reply = wire.json_object(response)
        prediction_id = wire.id_text(reply.get("id")) if reply is not None else None
        if prediction_id is None:
            raise self._unknown_outcome(response, context)
        fmt = "jpeg" if params.get("output_format") == "jpeg" else "png"
        return self._accepted(prediction_id, response, output_format=fmt)

    async def poll(self, accepted: Accepted) -> ProviderResult | None:
        response, body, context = await self._status(f"v1/status/{accepted.provider_job_id}", accepted)
        if body is None:  # an empty 202: still queued
            return None
        status = body.get("status")
        if status in _FAILED:
            what = f"prediction {accepted.provider_job_id} ended {status}"
            # The terminal reply says what was charged (0 for a refunded PipelineError).
            credits = self._meta(response).credits_used
            raise self._job_failed(body, context, what=what, status=str(status), credits_used=credits)
        if status != "completed":
            return None  # starting, in_queue, processing
        fmt = self._accepted_format(accepted, "png")
        outputs = _outputs(body.get("output"), fmt)
        if not outputs:
            raise self._unreadable_poll(response, context)
        return self._result(outputs, accepted.provider_job_id, response)  # credits: x-fashn-credits-used

    def _inputs(self, job: EditJob, inputs: JobInputs) -> dict[str, Any]:
        fields: dict[str, Any] = {"image": self._source(inputs.image, "image", job), "prompt": job.prompt}
        if inputs.mask is not None:
            fields[self.mask_field] = self._source(inputs.mask, self.mask_field, job)
        if inputs.image_context is not None:
            fields["image_context"] = self._source(inputs.image_context, "image_context", job)
        if job.seed is not None:
            fields["seed"] = job.seed
        if job.count > 1:
            # UNCONFIRMED: num_images is in the SDK, not the docs pages; omitted for one image (the default).
            fields["num_images"] = job.count
        return fields

    def _source(self, image: InputImage, field: str, job: EditJob) -> str:
        if image.url:
            return image.url
        if image.data is not None:
            return image.data_uri()
        raise InvalidRequest(
            f"{self.name}: row {job.row_id}: {field} has neither a URL nor bytes", **self._context(job, field=field)
        )

    def _credits_of(self, body: dict[str, Any]) -> float | None:
        credits = body.get("credits")
        return self._as_credits(credits.get("total")) if isinstance(credits, dict) else self._as_credits(credits)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _error_fields(self, body: dict[str, Any]) -> tuple[str | None, str]:
        # API level: {"error": "Name", "message"}; runtime (status reply): {"error": {"name", "message"}}.
        error = body.get("error")
        if isinstance(error, dict):
            name, message = error.get("name"), error.get("message")
        else:
            name, message = error, body.get("message")
        return (name if isinstance(name, str) and name else None), str(message or "")


def _outputs(output: Any, fmt: str) -> tuple[OutputImage, ...]:
    """`output[]`: CDN URLs (fetched later by the lane) or data URIs (return_base64); () if unreadable."""
    if not isinstance(output, list):
        return ()
    images = []
    for item in output:
        if isinstance(item, str) and item.startswith(("http://", "https://")):
            images.append(OutputImage(data=None, format=wire.format_hint(item, fmt), source_url=item))
        elif isinstance(item, str) and (decoded := wire.decode_base64_image(item)) is not None:
            images.append(OutputImage(data=decoded[0], format=decoded[1]))
        else:
            return ()
    return tuple(images)
