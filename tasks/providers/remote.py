"""The base of the HTTP adapters: key check, one guarded send, and error replies mapped into the tree."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any, ClassVar

import httpx

from tasks.core.config import ProviderSettings
from tasks.core.errors import (
    AuthError,
    ConfigError,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    MalformedReply,
    ProviderError,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted, EditJob, InputImage, OutputImage, ProviderResult
from tasks.http import transport as wire
from tasks.providers.base import Provider
from tasks.providers.outputs import OutputLimits

__all__ = ["RemoteProvider"]

# Seconds a balance read may take: it is advice before a run, never worth holding the run up for long.
_BALANCE_TIMEOUT = 15.0

# What to do about each permanent family, appended to the provider's own words.
_HINTS: dict[type[ProviderError], str] = {
    AuthError: "check the key set by providers.{name}.api_key_env (or api_key)",
    InsufficientCredits: "top up the {name} account; retrying will not help",
    InvalidRequest: "fix the variant's params or the row's inputs",
}


class RemoteProvider(Provider):
    """An adapter that talks HTTP to a provider: subclasses build requests and parse bodies.

    Subclasses set `error_names` (documented error name → family; names win over the status code)
    and implement `_auth_headers` and `_error_fields`. They build results, accepted jobs and failed-job
    errors with `_result`, `_accepted` and `_job_failed`, so every adapter reports ids, credits and
    rate-limit headers the same way.
    """

    error_names: ClassVar[Mapping[str, type[ProviderError]]] = {}
    # A failed async job's error name → family; any other name is JobFailed.
    job_failures: ClassVar[Mapping[str, type[ProviderError]]] = {}
    # Keys `settings.options` may hold for this adapter; any other key is a config error.
    known_options: ClassVar[frozenset[str]] = frozenset()
    # The provider's reset-time header, read when a 429 carries no Retry-After.
    reset_header: ClassVar[str | None] = None
    # Reply headers carrying a correlation id and credit counts, where the provider documents them.
    correlation_header: ClassVar[str | None] = None
    credits_available_header: ClassVar[str | None] = None
    credits_used_header: ClassVar[str | None] = None
    # The documented GET that answers the account's credits, relative to the base URL (None: there is none).
    balance_path: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        settings: ProviderSettings,
        client: httpx.AsyncClient,
        api_key: str | None,
        pool: Executor | None = None,
        output_limits: OutputLimits | None = None,
    ) -> None:
        super().__init__(settings=settings, client=client, api_key=api_key, pool=pool, output_limits=output_limits)
        unknown = sorted(set(settings.options) - self.known_options)
        if unknown:
            known = ", ".join(sorted(self.known_options)) or "none"
            raise ConfigError(
                f"providers.{self.name}.options: unknown option(s) {', '.join(unknown)}; known: {known}",
                path=f"providers.{self.name}.options",
            )

    @property
    def balance_url(self) -> str | None:
        return f"{self.base_url}/{self.balance_path}" if self.balance_path is not None else None

    async def balance(self) -> float | None:
        """GET `balance_path` and read the credits from its body (see `_credits_of`)."""
        if self.balance_url is None:
            return None
        context = self._context()
        request = self.client.build_request(
            "GET", self.balance_url, headers=self._headers(), timeout=min(self.settings.timeout, _BALANCE_TIMEOUT)
        )
        response = await self._call(request, submit=False, context=context, what="balance read")
        credits = self._credits_of(wire.json_object(response) or {})
        if credits is None:
            raise MalformedReply(
                f"{self.name}: the balance reply (HTTP {response.status_code}) holds no credit count",
                **{**context, "status_code": response.status_code},
            )
        return credits

    def _credits_of(self, body: dict[str, Any]) -> float | None:
        """The credit count in a balance reply, or None when it holds none (adapters with `balance_path`)."""
        return None

    @staticmethod
    def _as_credits(value: Any) -> float | None:
        """A JSON number as credits; anything else (a string, a bool, null) as None."""
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @abstractmethod
    def _auth_headers(self, key: str) -> dict[str, str]:
        """The header(s) carrying the key; used for nothing else."""

    @abstractmethod
    def _error_fields(self, body: dict[str, Any]) -> tuple[str | None, str]:
        """(documented error name or None, human message) of an error body."""

    def _headers(self) -> dict[str, str]:
        """The auth header; AuthError before any request when there is no key."""
        if not self._api_key:
            raise AuthError(
                f"{self.name}: no API key; set providers.{self.name}.api_key_env to the name of an environment "
                "variable holding it (or api_key / api_key_secret_block)",
                provider=self.name,
            )
        return self._auth_headers(self._api_key)

    def _bad_option(self, option: str, value: Any, expected: str) -> ConfigError:
        # Values under providers.* are never echoed (a misplaced key, or a token in a webhook URL).
        path = f"providers.{self.name}.options.{option}"
        return ConfigError(f"{path}: use {expected} (got a {type(value).__name__})", path=path)

    def _submit_headers(self, job: EditJob) -> dict[str, str]:
        # A client-side request id: the job key, the same on every attempt of one job.
        return {**self._headers(), "X-Request-Id": job.job_key}

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        url = f"{self.base_url}/{path.lstrip('/')}"
        request = self.client.build_request(method, url, timeout=self.settings.timeout, **kwargs)
        # A multipart body streams part by part, one socket write per chunk (~10 a request, 15% of a
        # remote run's CPU); read once into bytes, it leaves in one write after the headers.
        request.read()
        return request

    def _context(self, job: EditJob | None = None, **extra: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"provider": self.name, **extra}
        if job is not None:
            context.update(row_id=job.row_id, job_key=job.job_key)
        return context

    def _refuse_input(self, job: EditJob, role: str, image: InputImage | None) -> None:
        """InvalidRequest, before any request, for an input the provider has no field for (never drop it)."""
        if image is not None:
            raise InvalidRequest(
                f"{self.name} takes no {role}; row {job.row_id} has one (drop the {role} column mapping "
                "or use another provider)",
                **self._context(job, field=role),
            )

    def _checked(self, job: EditJob) -> dict[str, Any]:
        """The job's params, re-checked before sending (the planner checked the variant already)."""
        params = job.params
        try:
            self.check_params(params, model=job.model, count=job.count, seed=job.seed)
        except ValueError as error:
            raise InvalidRequest(f"{self.name}: row {job.row_id}: {error}", **self._context(job)) from None
        return params

    async def _call(
        self, request: httpx.Request, *, submit: bool, context: dict[str, Any], what: str | None = None
    ) -> httpx.Response:
        """Send; return a 2xx reply, or raise the mapped error (transport or answered).

        Args:
            what: the request as messages name it (default: "submit" or "status check").
        """
        response = await wire.send(self.client, request, submit=submit, context=context)
        if not 200 <= response.status_code < 300:
            raise self._answer_error(response, submit=submit, context=context, what=what)
        return response

    def _answer_error(
        self, response: httpx.Response, *, submit: bool, context: dict[str, Any], what: str | None = None
    ) -> ProviderError:
        body = wire.json_object(response) or {}
        name, detail = self._error_fields(body)
        status = response.status_code
        family = self._family(status, name, submit=submit)
        meta = self._meta(response)
        wait = wire.retry_after(response.headers, reset_header=self.reset_header) if status in (429, 503) else None
        what = what or ("submit" if submit else "status check")
        message = f"{self.name}: {what} failed with HTTP {status}" + (f" {name}" if name else "")
        if detail:
            message += f": {detail[:300]}"
        if family in _HINTS:
            message += f" ({_HINTS[family].format(name=self.name)})"
        message = wire.redact(message, self._api_key)  # a provider may echo a bad key
        extra = {
            "status_code": status,
            "error_name": name,
            "retry_after": wait,
            "request_id": meta.request_id,
            "correlation_id": meta.correlation_id,
        }
        return family(message, **{**context, **extra})

    def _family(self, status: int, name: str | None, *, submit: bool) -> type[ProviderError]:
        if name is not None and name in self.error_names:
            return self.error_names[name]
        if status == 404 and not submit:
            return JobFailed  # the job id is no longer tracked (expired or never existed)
        return wire.status_error_class(status)

    def _meta(self, response: httpx.Response) -> wire.ReplyMeta:
        return wire.reply_meta(
            response.headers,
            correlation_header=self.correlation_header,
            credits_available_header=self.credits_available_header,
            credits_used_header=self.credits_used_header,
        )

    def _unknown_outcome(self, response: httpx.Response, context: dict[str, Any]) -> SubmitOutcomeUnknown:
        meta = self._meta(response)
        return SubmitOutcomeUnknown(
            f"{self.name}: submit got HTTP {response.status_code} with a body that is not a result or a job id; "
            "the job may exist and be billed, so it is not re-sent",
            **{**context, "status_code": response.status_code, "request_id": meta.request_id},
        )

    async def _status(
        self, path: str, accepted: Accepted
    ) -> tuple[httpx.Response, dict[str, Any] | None, dict[str, Any]]:
        """GET a job's status: (reply, its JSON object or None for an empty 202, the error context).

        Raises:
            ProviderError: the mapped error answer, or MalformedReply for an unreadable body.
        """
        context = self._context(provider_job_id=accepted.provider_job_id)
        request = self._request("GET", path, headers=self._headers())
        response = await self._call(request, submit=False, context=context)
        body = wire.json_object(response)
        if body is None and response.status_code != 202:
            raise self._unreadable_poll(response, context)
        return response, body, context

    def _unreadable_poll(self, response: httpx.Response, context: dict[str, Any]) -> ProviderError:
        return MalformedReply(
            f"{self.name}: status check got HTTP {response.status_code} with an unreadable body; polling again",
            **{**context, "status_code": response.status_code},
        )

    def _result(
        self,
        outputs: tuple[OutputImage, ...],
        job_id: str | None,
        response: httpx.Response,
        *,
        credits_used: float | None = None,
    ) -> ProviderResult:
        """A finished job: its outputs plus the ids, credits and rate-limit headers of `response`.

        Args:
            credits_used: credits the body reported; None falls back to the credits-used header.
        """
        meta = self._meta(response)
        return ProviderResult(
            outputs=outputs,
            provider_job_id=job_id,
            request_id=meta.request_id,
            correlation_id=meta.correlation_id,
            credits_used=meta.credits_used if credits_used is None else credits_used,
            credits_available=meta.credits_available,
            rate_limit_json=meta.rate_limit_json,
        )

    def _accepted(self, job_id: str, response: httpx.Response, *, output_format: str | None = None) -> Accepted:
        """An accepted async job; `output_format` is kept with it for reading the finished outputs."""
        meta = self._meta(response)
        return Accepted(
            provider=self.name,
            provider_job_id=job_id,
            request_id=meta.request_id,
            correlation_id=meta.correlation_id,
            credits_available=meta.credits_available,
            detail_json=json.dumps({"format": output_format}) if output_format else "{}",
        )

    @staticmethod
    def _accepted_format(accepted: Accepted, default: str) -> str:
        """The output format kept by `_accepted` (journaled jobs of older runs may lack it)."""
        return str(json.loads(accepted.detail_json).get("format", default))

    def _job_failed(
        self,
        body: dict[str, Any],
        context: dict[str, Any],
        *,
        what: str,
        response: httpx.Response | None = None,
        **extra: Any,
    ) -> ProviderError:
        """The error for an accepted job the provider says ended without output.

        Args:
            body: the status reply naming the failure (read by `_error_fields`).
            context: the poll's error context.
            what: how the job ended, after the provider's name ("task 7 failed").
            response: the status reply, when its status code and ids belong on the error.
            **extra: more context fields.
        """
        name, detail = self._error_fields(body)
        message = f"{self.name}: {what}" + (f" ({name})" if name else "")
        if detail:
            message += f": {wire.redact(detail, self._api_key)[:300]}"
        fields: dict[str, Any] = {**context, "error_name": name, **extra}
        if response is not None:
            meta = self._meta(response)
            fields.update(
                status_code=response.status_code, request_id=meta.request_id, correlation_id=meta.correlation_id
            )
        return self.job_failures.get(name or "", JobFailed)(message, **fields)
