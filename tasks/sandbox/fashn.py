"""FASHN contract for model ``edit``: ``/v1/run`` (+ webhook), ``/v1/status/{id}``, ``/v1/credits``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tasks.imaging import EditedImage
from tasks.sandbox.editing import EditSpec
from tasks.sandbox.fashn_request import MAX_SEED, FashnRequest, read_fashn_request
from tasks.sandbox.files import base_url, cdn_url
from tasks.sandbox.fingerprints import request_fingerprint
from tasks.sandbox.gate import ANY_METHOD, Problem, Rejected, accept, bearer_key, enter, not_found, pick, refund, reply
from tasks.sandbox.inputs import LoadError, load_reference
from tasks.sandbox.jobs import Failure, JobError, JobState, ProviderJob
from tasks.sandbox.prices import PriceError, unit_price
from tasks.sandbox.responses import json_reply
from tasks.sandbox.settings import FashnSettings, ProviderName
from tasks.sandbox.state import SandboxState
from tasks.sandbox.webhooks import deliver
from tasks.sandbox.work import data_uri, edit_job, publish

__all__ = ["DIALECT", "FashnDialect", "routes"]

# Billing: a prediction is charged when accepted (``num_images`` x the price of its resolution); a
# ``PipelineError`` failure is refunded, as documented ("failures are not charged"); other failures
# (``ImageLoadError``...) keep the charge, which the docs imply but do not state (unconfirmed).

CREDITS_USED = "x-fashn-credits-used"
_NAMES: dict[Problem, tuple[int, str]] = {
    Problem.BAD_REQUEST: (400, "BadRequest"),
    Problem.INVALID_VALUE: (400, "BadRequest"),
    Problem.UNSUPPORTED_MEDIA: (400, "BadRequest"),
    Problem.MODEL_NOT_FOUND: (400, "BadRequest"),
    Problem.UNAUTHORIZED: (401, "UnauthorizedAccess"),
    Problem.NOT_FOUND: (404, "NotFound"),
    Problem.RATE_LIMITED: (429, "RateLimitExceeded"),
    Problem.CONCURRENCY_LIMITED: (429, "ConcurrencyLimitExceeded"),
    Problem.OUT_OF_CREDITS: (429, "OutOfCredits"),
    Problem.SERVER_ERROR: (500, "InternalServerError"),
    # FASHN documents no 503; an outage is its 500 InternalServerError.
    Problem.UNAVAILABLE: (500, "InternalServerError"),
}
_STATUS = {
    JobState.CREATED: "starting",
    JobState.QUEUED: "in_queue",
    JobState.RUNNING: "processing",
    JobState.SUCCEEDED: "completed",
    JobState.FAILED: "failed",
}
# What a job_fail fault ends a prediction with (seeded pick): one refunded, one billed.
_INJECTED = (
    Failure("PipelineError", "the pipeline failed (sandbox fault job_fail)"),
    Failure("ImageLoadError", "could not load the image (sandbox fault job_fail)", 400),
)


class FashnDialect:
    """Bearer auth; API-level errors as ``{"error": "<Name>", "message"}``."""

    provider: ProviderName = "fashn"
    outages: tuple[Problem, ...] = (Problem.SERVER_ERROR,)

    def api_key(self, request: Request) -> str | None:
        return bearer_key(request)

    def problem(self, problem: Problem, detail: str) -> Response:
        status, name = _NAMES[problem]
        return json_reply({"error": name, "message": detail}, status)


DIALECT = FashnDialect()


def status_body(job: ProviderJob, root: str) -> dict[str, Any]:
    """The prediction as ``GET /v1/status/{id}`` (and the webhook) shows it."""
    output: list[str] | None = None
    if job.state is JobState.SUCCEEDED:
        if job.options["return_base64"]:
            output = [data_uri(image) for image in job.images]
        else:
            output = [cdn_url(root, "fashn", name) for name in job.file_names]
    error = None if job.failure is None else {"name": job.failure.name, "message": job.failure.message}
    return {"id": job.id, "status": _STATUS[job.state], "output": output, "error": error}


async def run(request: Request) -> Response:
    """``POST /v1/run`` (optional ``?webhook_url=``): accept a prediction, answer ``{id, error: null}``."""
    caller = await enter(request, DIALECT, read=False)
    if isinstance(caller, Response):
        return caller
    settings: FashnSettings = caller.state.settings.fashn
    webhook = request.query_params.get("webhook_url")
    try:
        inputs = read_fashn_request(await request.body(), webhook)
        credits = unit_price(settings.prices, ["edit"], inputs.resolution, inputs.generation_mode) * inputs.num_images
    except Rejected as rejected:
        return DIALECT.problem(rejected.problem, rejected.detail)
    except PriceError as error:
        return DIALECT.problem(Problem.SERVER_ERROR, str(error))
    options = {"return_base64": inputs.return_base64, "webhook_url": webhook, "root": base_url(request)}
    job_id, fingerprint = f"{uuid.uuid4()}-sb", _fingerprint(inputs)
    job = accept(caller, job_id=job_id, endpoint="/v1/run", credits=credits, fingerprint=fingerprint, options=options)
    if isinstance(job, Response):
        return job
    ttl = settings.base64_ttl_seconds if inputs.return_base64 else settings.output_ttl_seconds
    caller.state.jobs.start(
        job, _work(inputs, caller.state, base_url(request)), settings.async_seconds, ttl, _on_finish(caller.state, ttl)
    )
    # Unconfirmed: the HTTP status of an accepted run; 200 chosen.
    return await reply(caller, job, json_reply({"id": job.id, "error": None}), submit=True, inline=False)


def _fingerprint(inputs: FashnRequest) -> str:
    fields = {name: getattr(inputs, name) for name in FashnRequest.__dataclass_fields__}
    return request_fingerprint({"provider": "fashn", **fields})


def _work(
    inputs: FashnRequest, state: SandboxState, root: str
) -> Callable[[ProviderJob], Awaitable[list[EditedImage]]]:
    async def load(reference: str) -> bytes:
        return await load_reference(reference, root=root, files=state.files, client=state.http)

    async def work(job: ProviderJob) -> list[EditedImage]:
        # FASHN fetches inputs inside the job: a bad image fails the prediction, it is not a 400.
        mask = await _load_optional(inputs.mask, load)
        await _load_optional(inputs.image_context, load)
        spec = EditSpec(
            prompt=inputs.prompt,
            seeds=tuple((inputs.seed + index) % (MAX_SEED + 1) for index in range(inputs.num_images)),
            mask=mask, mask_region="inside", output_format=inputs.output_format,
        )  # fmt: skip
        return await edit_job(
            job, lambda: load(inputs.image), spec,
            bad_image=lambda message: Failure("ImageLoadError", message, 400), injected=lambda: pick(job, _INJECTED),
        )  # fmt: skip

    return work


async def _load_optional(reference: str | None, load: Callable[[str], Awaitable[bytes]]) -> bytes | None:
    if reference is None:
        return None
    try:
        return await load(reference)
    except LoadError as error:
        raise JobError(Failure("ImageLoadError", str(error), 400)) from error


def _on_finish(state: SandboxState, ttl: float) -> Callable[[ProviderJob], Awaitable[None]]:
    settings = state.settings.fashn

    async def finish(job: ProviderJob) -> None:
        if job.failure is not None and job.failure.name == "PipelineError":
            refund(state, job)
        if job.state is JobState.SUCCEEDED and not job.options["return_base64"]:
            publish(job, state.files, ttl)
        url = job.options["webhook_url"]
        if url:
            payload = status_body(job, job.options["root"])
            state.spawn(deliver(state, url, payload, settings.webhook_retry_delays, settings.webhook_timeout_seconds))

    return finish


async def status(request: Request) -> Response:
    """``GET /v1/status/{id}``; the terminal reply carries ``x-fashn-credits-used``."""
    caller = await enter(request, DIALECT, read=True)
    if isinstance(caller, Response):
        return caller
    job = caller.state.jobs.get("fashn", request.path_params["prediction_id"], caller.key)
    if job is None:
        return DIALECT.problem(Problem.NOT_FOUND, "no prediction with this id (it may have expired)")
    response = json_reply(status_body(job, base_url(request)))
    if job.finished:
        response.headers[CREDITS_USED] = str(job.charge.credits if job.charge else 0)
    return await reply(caller, job, response, submit=False, inline=bool(job.options["return_base64"]))


async def credits(request: Request) -> Response:
    """``GET /v1/credits``: ``{"credits": {"total", "subscription", "on_demand"}}``."""
    caller = await enter(request, DIALECT, read=True)
    if isinstance(caller, Response):
        return caller
    balance = caller.state.ledger.balance("fashn", caller.key)
    body = {"total": balance.total, "subscription": balance.subscription, "on_demand": balance.on_demand}
    return json_reply({"credits": body})


def routes() -> list[Route]:
    """The routes under ``/fashn``."""
    return [
        Route("/v1/run", run, methods=["POST"]),
        Route("/v1/status/{prediction_id}", status, methods=["GET"]),
        Route("/v1/credits", credits, methods=["GET"]),
        Route("/{path:path}", not_found(DIALECT), methods=ANY_METHOD),
    ]
