"""Picsart GenAI painting contract: edit and outpaint (sync or async), the shared poll, the balance."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import NamedTuple, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tasks.imaging import EditedImage
from tasks.sandbox.editing import EditSpec, derived_seed
from tasks.sandbox.files import base_url, cdn_url
from tasks.sandbox.fingerprints import request_fingerprint
from tasks.sandbox.gate import ANY_METHOD, Caller, Problem, Rejected, accept, enter, not_found, reply
from tasks.sandbox.jobs import Failure, JobState, ProviderJob
from tasks.sandbox.picsart_request import PicsartRequest, read_picsart_request
from tasks.sandbox.prices import PriceError, size_tier, unit_price
from tasks.sandbox.responses import json_reply
from tasks.sandbox.settings import PicsartSettings, ProviderName
from tasks.sandbox.state import SandboxState
from tasks.sandbox.work import edit_job, publish

__all__ = ["DIALECT", "PicsartDialect", "routes"]

# Billing: a job is charged when accepted, ``count`` x the price of its model (or operation), and a
# failed job keeps its charge: the docs say nothing about refunds (unconfirmed), so the sandbox takes the
# side that punishes double submits.

_STATUS: dict[Problem, tuple[int, str]] = {
    Problem.BAD_REQUEST: (400, "Bad Request"),
    # Wrong types and out-of-range values are 422 per the troubleshooting page.
    Problem.INVALID_VALUE: (422, "Unprocessable Entity"),
    Problem.MODEL_NOT_FOUND: (422, "Unprocessable Entity"),
    Problem.UNSUPPORTED_MEDIA: (415, "Unsupported Media Type"),
    Problem.UNAUTHORIZED: (401, "Unauthorized"),
    Problem.OUT_OF_CREDITS: (402, "Payment Required"),
    Problem.NOT_FOUND: (404, "Not Found"),
    Problem.RATE_LIMITED: (429, "Too Many Requests"),
    Problem.CONCURRENCY_LIMITED: (429, "Too Many Requests"),
    Problem.SERVER_ERROR: (500, "Internal Server Error"),
    Problem.UNAVAILABLE: (503, "Service Unavailable"),
}


class PicsartDialect:
    """``X-Picsart-API-Key`` auth; errors as ``{code, message, detail}``."""

    provider: ProviderName = "picsart"
    outages: tuple[Problem, ...] = (Problem.SERVER_ERROR, Problem.UNAVAILABLE)

    def api_key(self, request: Request) -> str | None:
        return request.headers.get("x-picsart-api-key")

    def problem(self, problem: Problem, detail: str) -> Response:
        status, message = _STATUS[problem]
        return json_reply({"code": status, "message": message, "detail": detail}, status)


DIALECT = PicsartDialect()


def _with_headers(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Add the headers Picsart sends on every reply: correlation id, credits, rate-limit state."""

    async def endpoint(request: Request) -> Response:
        response = await handler(request)
        headers = response.headers
        headers["X-Picsart-Correlation-Id"] = str(uuid.uuid4())
        state = request.app.state.sandbox
        key = DIALECT.api_key(request)
        if not key or not state.ledger.knows("picsart", key):
            return response
        headers["X-Picsart-Credit-Available"] = str(state.ledger.balance("picsart", key).total)
        bucket = state.runtimes["picsart"].limiter.bucket(key)
        if bucket is not None:
            headers["X-Picsart-Ratelimit-Limit"] = str(bucket.settings.burst)
            headers["X-Picsart-Ratelimit-Available"] = str(bucket.available)
            # Unconfirmed format; sent as the Unix time (seconds) at which the bucket is full again.
            headers["X-Picsart-Ratelimit-Reset-Time"] = str(math.ceil(time.time() + bucket.seconds_to_full()))
        return response

    return endpoint


class Preference(NamedTuple):
    """How the client asked to be answered."""

    respond_async: bool
    wait: float | None
    by_header: bool


def _preference(prefer: str | None, mode: str | None) -> Preference:
    """From ``Prefer`` (RFC 7240), else from the deprecated ``mode``; the header wins when both are sent."""
    prefs: dict[str, str] = {}
    for token in (prefer or "").split(","):
        name, _, value = token.strip().partition("=")
        prefs[name.strip().lower()] = value.strip().strip('"')
    if "respond-async" not in prefs and "wait" not in prefs:
        return Preference(mode == "async", None, by_header=False)
    try:
        wait = float(prefs["wait"]) if "wait" in prefs else None
    except ValueError:
        wait = None
    return Preference("respond-async" in prefs, wait, by_header=True)


def _render(job: ProviderJob, root: str) -> Response:
    """The reply about a job: 202 while processing, 200 with data, or 200 ``status: error``."""
    if job.state is JobState.SUCCEEDED:
        data = [{"id": name, "url": cdn_url(root, "picsart", name)} for name in job.file_names]
        return json_reply({"status": "success", "data": data})
    if job.failure is not None:
        # Unconfirmed shape of a failed job: HTTP 200, status "error" (P-MCP says to stop polling on
        # it), plus the standard error fields so a client reading either shape finds the reason.
        failure = job.failure
        body = {"status": "error", "inference_id": job.id, "code": failure.code, "message": failure.name}
        return json_reply({**body, "detail": failure.message})
    return json_reply({"status": "processing", "inference_id": job.id}, 202)


def _accepted(job: ProviderJob, *, applied: bool) -> Response:
    response = json_reply({"status": "processing", "inference_id": job.id}, 202)
    if applied:
        response.headers["Preference-Applied"] = "respond-async"
    return response


async def _submit(request: Request, operation: str) -> Response:
    caller = await enter(request, DIALECT, read=False)
    if isinstance(caller, Response):
        return caller
    try:
        painting = await read_picsart_request(request, operation, caller.state)
        credits = _price(caller, painting)
    except Rejected as rejected:
        return DIALECT.problem(rejected.problem, rejected.detail)
    job = accept(
        caller, job_id=str(uuid.uuid4()), endpoint=f"/v1/painting/{operation}", credits=credits,
        fingerprint=_fingerprint(painting), options={},
    )  # fmt: skip
    if isinstance(job, Response):
        return job
    settings = cast(PicsartSettings, caller.runtime.settings)
    preference = _preference(request.headers.get("prefer"), painting.mode)
    seconds = settings.async_seconds if preference.respond_async else settings.sync_seconds
    caller.state.jobs.start(
        job, _work(painting), seconds, settings.output_ttl_seconds, _on_finish(caller.state, settings)
    )
    return await reply(caller, job, await _answer(caller, job, preference, settings), submit=True, inline=False)


async def _answer(caller: Caller, job: ProviderJob, preference: Preference, settings: PicsartSettings) -> Response:
    applied = preference.respond_async and preference.by_header
    if preference.respond_async and preference.wait is None:
        return _accepted(job, applied=applied)
    # Sync (or async with wait=N): wait for the result, never past sync_max_seconds; the server may
    # answer 202 whatever was asked.
    limit = min(preference.wait if preference.wait is not None else math.inf, settings.sync_max_seconds)
    if await caller.state.jobs.wait(job, limit):
        return _render(job, base_url(caller.request))
    return _accepted(job, applied=applied)


def _price(caller: Caller, painting: PicsartRequest) -> int:
    names = [painting.model, painting.operation] if painting.model else [painting.operation]
    try:
        per_image = unit_price(caller.runtime.settings.prices, names, size_tier(*painting.image.size), None)
    except PriceError as error:
        raise Rejected(Problem.SERVER_ERROR, str(error)) from error
    return per_image * painting.count


def _fingerprint(painting: PicsartRequest) -> str:
    return request_fingerprint({
        "provider": "picsart", "operation": painting.operation, "prompt": painting.prompt,
        "image": painting.image.ref, "mask": painting.mask.ref if painting.mask else None,
        "count": painting.count, "format": painting.format, "model": painting.model,
    })  # fmt: skip


def _work(painting: PicsartRequest) -> Callable[[ProviderJob], Awaitable[list[EditedImage]]]:
    async def work(job: ProviderJob) -> list[EditedImage]:
        # Picsart has no seed: each output's seed comes from the job id and its index.
        spec = EditSpec(
            prompt=painting.prompt, seeds=tuple(derived_seed(job.id, index) for index in range(painting.count)),
            mask=painting.mask.data if painting.mask else None,
            # Outpaint paints outside the mask; edit has no mask.
            mask_region="outside", output_format=painting.format.lower(),
        )  # fmt: skip
        return await edit_job(
            job, painting.image.data, spec,
            bad_image=lambda message: Failure("Bad Request", message, 400),
            injected=lambda: Failure("Internal Server Error", "the generation failed (sandbox fault job_fail)"),
        )  # fmt: skip

    return work


def _on_finish(state: SandboxState, settings: PicsartSettings) -> Callable[[ProviderJob], Awaitable[None]]:
    async def finish(job: ProviderJob) -> None:
        if job.state is JobState.SUCCEEDED:
            publish(job, state.files, settings.output_ttl_seconds)

    return finish


async def edit(request: Request) -> Response:
    """``POST /v1/painting/edit``."""
    return await _submit(request, "edit")


async def outpaint(request: Request) -> Response:
    """``POST /v1/painting/outpaint``."""
    return await _submit(request, "outpaint")


async def poll(request: Request) -> Response:
    """``GET /v1/painting/{inference_id}``: one poll for every painting operation."""
    caller = await enter(request, DIALECT, read=True)
    if isinstance(caller, Response):
        return caller
    job = caller.state.jobs.get("picsart", request.path_params["inference_id"], caller.key)
    if job is None:
        return DIALECT.problem(Problem.NOT_FOUND, "no inference with this id (results live 24 hours)")
    return _render(job, base_url(request))


async def balance(request: Request) -> Response:
    """``GET /v1/balance``: ``{"credits": n}``."""
    caller = await enter(request, DIALECT, read=True)
    if isinstance(caller, Response):
        return caller
    return json_reply({"credits": caller.state.ledger.balance("picsart", caller.key).total})


def routes() -> list[Route]:
    """The routes under ``/picsart/v1``."""
    return [
        Route("/painting/edit", _with_headers(edit), methods=["POST"]),
        Route("/painting/outpaint", _with_headers(outpaint), methods=["POST"]),
        Route("/painting/{inference_id}", _with_headers(poll), methods=["GET"]),
        Route("/balance", _with_headers(balance), methods=["GET"]),
        Route("/{path:path}", _with_headers(not_found(DIALECT)), methods=ANY_METHOD),
    ]
