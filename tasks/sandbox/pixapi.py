"""Pixapi image edits contract: sync ``/v1/images/edits``, async ``/v1/async/images/edits``, task polls."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tasks.imaging import EditedImage
from tasks.sandbox.editing import EditSpec, derived_seed
from tasks.sandbox.files import base_url, cdn_url
from tasks.sandbox.fingerprints import request_fingerprint
from tasks.sandbox.gate import ANY_METHOD, Problem, Rejected, accept, bearer_key, enter, not_found, pick, refund, reply
from tasks.sandbox.jobs import Failure, JobState, ProviderJob
from tasks.sandbox.pixapi_request import PixapiRequest, read_pixapi_request
from tasks.sandbox.prices import PriceError, size_tier, unit_price
from tasks.sandbox.responses import json_reply
from tasks.sandbox.settings import ProviderName, SandboxProviderSettings
from tasks.sandbox.state import SandboxState
from tasks.sandbox.work import b64, edit_job, publish

__all__ = ["DIALECT", "PixapiDialect", "routes"]

# Billing: the balance is checked and the price taken when the job is accepted; a job that fails is
# refunded, because Pixapi consumes credits "after successful output" (billing page).

_STATUS: dict[Problem, tuple[int, str]] = {
    Problem.BAD_REQUEST: (400, "invalid_request_error"),
    Problem.INVALID_VALUE: (400, "invalid_request_error"),
    Problem.UNSUPPORTED_MEDIA: (400, "invalid_request_error"),
    Problem.UNAUTHORIZED: (401, "unauthorized"),
    Problem.OUT_OF_CREDITS: (402, "insufficient_credits"),
    Problem.MODEL_NOT_FOUND: (404, "model_not_found"),
    # Not in the errors table (a task id nobody knows); named like the documented types.
    Problem.NOT_FOUND: (404, "not_found"),
    Problem.RATE_LIMITED: (429, "rate_limited"),
    Problem.CONCURRENCY_LIMITED: (429, "rate_limited"),
    Problem.SERVER_ERROR: (500, "internal_error"),
    Problem.UNAVAILABLE: (503, "model_unavailable"),
}
# What a job_fail fault ends a task with: a generation failure, or a policy rejection (seeded pick).
_INJECTED = (
    Failure("internal_error", "the model failed to produce an image (sandbox fault job_fail)", 500),
    Failure("prompt_rejected", "the prompt or input violates model policy (sandbox fault job_fail)", 422),
)


class PixapiDialect:
    """Bearer auth; errors as ``{"error": {"code": <http int>, "message", "type"}}``."""

    provider: ProviderName = "pixapi"
    outages: tuple[Problem, ...] = (Problem.SERVER_ERROR, Problem.UNAVAILABLE)

    def api_key(self, request: Request) -> str | None:
        return bearer_key(request)

    def problem(self, problem: Problem, detail: str) -> Response:
        status, kind = _STATUS[problem]
        return json_reply({"error": {"code": status, "message": detail, "type": kind}}, status)


DIALECT = PixapiDialect()


def _items(job: ProviderJob, root: str) -> list[dict[str, str]]:
    if job.options["response_format"] == "b64_json":
        return [{"b64_json": b64(image)} for image in job.images]
    return [{"url": cdn_url(root, "pixapi", name)} for name in job.file_names]


def _failure_body(failure: Failure) -> dict[str, Any]:
    return {"code": failure.code, "type": failure.name, "message": failure.message}


def _task(job: ProviderJob, root: str) -> dict[str, Any]:
    """A task as ``GET /v1/tasks/{id}`` shows it (intermediate names unconfirmed: queued, processing)."""
    if job.state is JobState.SUCCEEDED:
        return {"id": job.id, "status": "completed", "created": int(job.options["created"]), "data": _items(job, root)}
    if job.failure is not None:
        return {"id": job.id, "status": "failed", "error": _failure_body(job.failure)}
    status = "processing" if job.state is JobState.RUNNING else "queued"
    return {"id": job.id, "status": status}


async def _submit(request: Request, *, task: bool) -> Response:
    caller = await enter(request, DIALECT, read=False)
    if isinstance(caller, Response):
        return caller
    try:
        edit = await read_pixapi_request(request, caller.state)
        credits = _price(caller.runtime.settings, edit)
    except Rejected as rejected:
        return DIALECT.problem(rejected.problem, rejected.detail)
    options = {"task": task, "response_format": edit.response_format, "created": time.time()}
    endpoint = "/v1/async/images/edits" if task else "/v1/images/edits"
    job_id = f"task_{uuid.uuid4().hex}"
    job = accept(
        caller, job_id=job_id, endpoint=endpoint, credits=credits, fingerprint=_fingerprint(edit), options=options
    )
    if isinstance(job, Response):
        return job
    settings = caller.runtime.settings
    seconds = settings.async_seconds if task else settings.sync_seconds
    caller.state.jobs.start(job, _work(edit), seconds, settings.output_ttl_seconds, _on_finish(caller.state, edit))
    if task:
        # Unconfirmed: the HTTP status of an accepted task (200 chosen) and fields beyond "id".
        return await reply(caller, job, json_reply({"id": job.id, "status": "queued"}), submit=True, inline=False)
    await job.done.wait()
    return await reply(caller, job, _sync_result(job, base_url(request)), submit=True, inline=_inline(job))


def _sync_result(job: ProviderJob, root: str) -> Response:
    if job.failure is not None:
        return json_reply({"error": _failure_body(job.failure)}, job.failure.code)
    return json_reply({"created": int(job.options["created"]), "data": _items(job, root)})


def _inline(job: ProviderJob) -> bool:
    return bool(job.options["response_format"] == "b64_json")


def _price(settings: SandboxProviderSettings, edit: PixapiRequest) -> int:
    # quality=auto is billed as high; size=auto as the 1K tier (gpt-image page).
    quality = "high" if edit.quality == "auto" else edit.quality
    tier = size_tier(*edit.size) if edit.size else "1k"
    try:
        return unit_price(settings.prices, [edit.model], tier, quality) * edit.n
    except PriceError as error:
        raise Rejected(Problem.SERVER_ERROR, str(error)) from error


def _fingerprint(edit: PixapiRequest) -> str:
    return request_fingerprint({
        "provider": "pixapi", "model": edit.model, "prompt": edit.prompt, "images": list(edit.refs), "n": edit.n,
        "size": edit.size, "quality": edit.quality, "response_format": edit.response_format,
        "output_format": edit.output_format,
    })  # fmt: skip


def _work(edit: PixapiRequest) -> Callable[[ProviderJob], Awaitable[list[EditedImage]]]:
    async def work(job: ProviderJob) -> list[EditedImage]:
        # No seed field: each output's seed comes from the task id and its index.
        spec = EditSpec(
            prompt=edit.prompt, seeds=tuple(derived_seed(job.id, index) for index in range(edit.n)),
            output_format=edit.output_format, size=edit.size,
        )  # fmt: skip
        return await edit_job(
            job, edit.images[0], spec,
            bad_image=lambda message: Failure("invalid_request_error", message, 400),
            injected=lambda: pick(job, _INJECTED),
        )  # fmt: skip

    return work


def _on_finish(state: SandboxState, edit: PixapiRequest) -> Callable[[ProviderJob], Awaitable[None]]:
    settings = state.settings.pixapi

    async def finish(job: ProviderJob) -> None:
        if job.state is JobState.FAILED:
            refund(state, job)
        elif edit.response_format == "url":
            publish(job, state.files, settings.output_ttl_seconds)

    return finish


async def edits(request: Request) -> Response:
    """``POST /v1/images/edits``: answers when the edit is done."""
    return await _submit(request, task=False)


async def async_edits(request: Request) -> Response:
    """``POST /v1/async/images/edits``: answers at once with a task id."""
    return await _submit(request, task=True)


async def task(request: Request) -> Response:
    """``GET /v1/tasks/{id}``."""
    caller = await enter(request, DIALECT, read=True)
    if isinstance(caller, Response):
        return caller
    job = caller.state.jobs.get("pixapi", request.path_params["task_id"], caller.key)
    if job is None or not job.options.get("task"):
        return DIALECT.problem(Problem.NOT_FOUND, "no task with this id")
    return await reply(caller, job, json_reply(_task(job, base_url(request))), submit=False, inline=_inline(job))


def routes() -> list[Route]:
    """The routes under ``/pixapi``."""
    return [
        Route("/v1/images/edits", edits, methods=["POST"]),
        Route("/v1/async/images/edits", async_edits, methods=["POST"]),
        Route("/v1/tasks/{task_id}", task, methods=["GET"]),
        Route("/{path:path}", not_found(DIALECT), methods=ANY_METHOD),
    ]
