"""The steps every provider endpoint shares: latency, auth, rate limit, faults, concurrency, billing."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from tasks.sandbox.faults import REJECTING, Fault
from tasks.sandbox.jobs import ProviderJob
from tasks.sandbox.ledger import OutOfCredits
from tasks.sandbox.responses import malformed, truncated
from tasks.sandbox.settings import ProviderName
from tasks.sandbox.state import ProviderRuntime, SandboxState

T = TypeVar("T")

#: Methods a catch-all route answers (Starlette routes to functions default to GET only).
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

__all__ = [
    "ANY_METHOD",
    "Caller",
    "Dialect",
    "Problem",
    "Rejected",
    "accept",
    "bearer_key",
    "enter",
    "not_found",
    "pick",
    "refund",
    "reject",
    "reply",
]

# Each provider module supplies a ``Dialect`` (how it reads keys and words its errors); the order of
# the checks, and what is billed when, is decided here once for all of them.


class Problem(StrEnum):
    """Provider-neutral error kinds; each dialect maps them to its status codes and bodies."""

    BAD_REQUEST = "bad_request"  # a required field is missing, or the request is unusable
    INVALID_VALUE = "invalid_value"  # a field has the wrong type or is out of range
    UNSUPPORTED_MEDIA = "unsupported_media"  # the body is not in an accepted encoding
    UNAUTHORIZED = "unauthorized"
    OUT_OF_CREDITS = "out_of_credits"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"
    RATE_LIMITED = "rate_limited"
    CONCURRENCY_LIMITED = "concurrency_limited"
    SERVER_ERROR = "server_error"
    UNAVAILABLE = "unavailable"


class Dialect(Protocol):
    """How one provider reads its key and words its errors."""

    provider: ProviderName
    #: The 5xx kinds an ``http_5xx`` fault may answer with (a seeded pick).
    outages: tuple[Problem, ...]

    def api_key(self, request: Request) -> str | None:
        """The API key the request carries, if any."""
        ...

    def problem(self, problem: Problem, detail: str) -> Response:
        """The provider's error reply for ``problem``."""
        ...


class Rejected(Exception):
    """Raised while reading a request that the provider would refuse; the endpoint answers it."""

    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


@dataclass
class Caller:
    """An authenticated request to one provider."""

    request: Request
    state: SandboxState
    runtime: ProviderRuntime
    dialect: Dialect
    key: str

    @property
    def request_id(self) -> str | None:
        """The client's ``X-Request-Id`` header (retouch sends its job key there)."""
        return self.request.headers.get("x-request-id")


def bearer_key(request: Request) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (Pixapi, FASHN)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def not_found(dialect: Dialect) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering any path the contract does not have with the provider's 404."""

    async def endpoint(request: Request) -> Response:
        return dialect.problem(Problem.NOT_FOUND, f"no such endpoint: {request.method} {request.url.path}")

    return endpoint


async def enter(request: Request, dialect: Dialect, *, read: bool) -> Caller | Response:
    """Latency, then auth, then the rate limit, then (for reads) a drawn rejecting fault."""
    state: SandboxState = request.app.state.sandbox
    runtime = state.runtimes[dialect.provider]
    await runtime.faults.delay()
    key = dialect.api_key(request)
    if not key or not state.ledger.knows(dialect.provider, key):
        return dialect.problem(Problem.UNAUTHORIZED, "missing or invalid API key")
    denied = runtime.limiter.take(key)
    if denied is not None:
        return rate_limited(runtime, dialect, denied.retry_after)
    if read:
        fault = runtime.faults.draw_read()
        if fault is not None:
            return reject(runtime, dialect, fault)
    return Caller(request, state, runtime, dialect, key)


def rate_limited(runtime: ProviderRuntime, dialect: Dialect, retry_after: float) -> Response:
    """The provider's 429, with Retry-After in whole seconds (unless turned off)."""
    response = dialect.problem(Problem.RATE_LIMITED, "too many requests; slow down and retry later")
    if runtime.settings.retry_after_header:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def reject(runtime: ProviderRuntime, dialect: Dialect, fault: Fault) -> Response:
    """The answer to a rejecting fault: a spurious 429, or a 5xx; nothing is created or billed."""
    if fault is Fault.HTTP_429:
        return rate_limited(runtime, dialect, 1.0)
    outage = runtime.faults.choose(dialect.outages)
    return dialect.problem(outage, f"the service failed to process the request (sandbox fault {fault.value})")


def accept(
    caller: Caller, *, job_id: str, endpoint: str, credits: int, fingerprint: str, options: dict[str, Any]
) -> ProviderJob | Response:
    """Create and bill a job, unless a drawn fault, the concurrency limit or the balance says no.

    The job is charged here, when accepted; provider modules refund where their docs say a failure
    is not billed.
    """
    runtime, state, dialect = caller.runtime, caller.state, caller.dialect
    fault = runtime.faults.draw_submit(caller.request_id)
    if fault in REJECTING:
        assert fault is not None
        return reject(runtime, dialect, fault)
    limit = runtime.settings.concurrency
    if limit is not None and state.jobs.in_flight(runtime.name, caller.key) >= limit:
        return dialect.problem(Problem.CONCURRENCY_LIMITED, f"at most {limit} jobs may be in flight; wait for one")
    job = ProviderJob(
        id=job_id, provider=runtime.name, key=caller.key, created_at=state.clock(), fault=fault,
        variant=runtime.faults.variant(), options=options,
    )  # fmt: skip
    try:
        job.charge = state.ledger.charge(
            runtime.name, caller.key, credits, endpoint=endpoint, job_id=job_id,
            request_id=caller.request_id, fingerprint=fingerprint,
        )  # fmt: skip
    except OutOfCredits as error:
        return dialect.problem(Problem.OUT_OF_CREDITS, str(error))
    state.stats.jobs[runtime.name] += 1
    return state.jobs.add(job)


def pick(job: ProviderJob, options: tuple[T, ...]) -> T:
    """The job's seeded choice among a fault's variants (e.g. which failure name a job_fail gets)."""
    return options[min(int(job.variant * len(options)), len(options) - 1)]


def refund(state: SandboxState, job: ProviderJob) -> None:
    """Give a job's charge back (a failure the provider does not bill)."""
    if job.charge is not None:
        state.ledger.refund(job.provider, job.key, job.charge)
        job.charge = None


async def reply(caller: Caller, job: ProviderJob, response: Response, *, submit: bool, inline: bool) -> Response:
    """Apply the job's reply faults to a reply about it.

    Args:
        caller: the request being answered.
        job: the job the reply is about.
        response: the correct reply.
        submit: the reply answers the submitting request (``hang`` and ``malformed`` hit only those).
        inline: the reply carries the output images themselves (base64), so ``truncated`` cuts the reply
            rather than the files.
    """
    if submit and job.fault is Fault.HANG:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(caller.state.stopping.wait(), caller.state.settings.faults.hang_seconds)
    if submit and job.fault is Fault.MALFORMED:
        return malformed(response)
    if inline and job.fault is Fault.TRUNCATED and job.images:
        return truncated(response)
    return response
