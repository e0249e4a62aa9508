"""HTTP wire helpers shared by the remote adapters: transport-error mapping, reply headers, bodies, formats."""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tasks.core.errors import (
    AuthError,
    InsufficientCredits,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    SubmitOutcomeUnknown,
)
from tasks.core.formats import format_from_media_type, format_from_name, sniff_format
from tasks.core.secrets import redact_token

__all__ = [
    "ReplyMeta",
    "decode_base64_image",
    "format_hint",
    "id_text",
    "json_object",
    "redact",
    "reply_meta",
    "retry_after",
    "send",
    "status_error_class",
]

# Raised before a single byte of the request could reach the provider: nothing can have been created.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Of those, the ones that say the provider could not be reached at all (a PoolTimeout is our own queue):
# a run of them trips the lane's connection breaker.
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)
# The request itself cannot be sent (bad base_url scheme, illegal header value): retrying cannot help.
_UNSENDABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# Header values above these are epoch times rather than a number of seconds to wait.
_EPOCH_SECONDS = 1e9
_EPOCH_MILLISECONDS = 1e12


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, submit: bool, context: dict[str, Any]
) -> httpx.Response:
    """Send one request and map httpx's transport errors into retouch's tree.

    Args:
        submit: True for a request that creates billable work. Once any part of it may have reached
            the provider, a missing answer means the job may exist: `SubmitOutcomeUnknown`.
        context: error context (provider, row_id, ...), never the key.

    Raises:
        ProviderTimeout / ProviderUnavailable: nothing was sent, or a safe request (a poll) failed.
        InvalidRequest: the request cannot be sent at all (bad base_url, illegal header).
        SubmitOutcomeUnknown: a submit was (perhaps partly) sent and no answer could be read.
    """
    try:
        return await client.send(request)
    except httpx.HTTPError as error:
        # `from None`: the httpx error holds the request, whose headers hold the key.
        raise _transport_error(error, submit=submit, context=context) from None


def _transport_error(error: httpx.HTTPError, *, submit: bool, context: dict[str, Any]) -> ProviderError:
    kind = type(error).__name__
    provider = context.get("provider", "provider")
    if isinstance(error, _UNSENDABLE):
        return InvalidRequest(
            f"{provider}: the request could not be sent ({kind}); check base_url and the key for stray characters",
            **context,
        )
    if isinstance(error, _UNREACHABLE):
        return ProviderUnreachable(f"{provider}: could not connect ({kind})", **context)
    if isinstance(error, _NOT_SENT) or not submit:
        retryable = ProviderTimeout if isinstance(error, httpx.TimeoutException) else ProviderUnavailable
        return retryable(f"{provider}: no answer ({kind})", **context)
    # ReadTimeout, ReadError, RemoteProtocolError, and also WriteError/WriteTimeout: the body may have
    # been complete when the connection broke, so the provider may have accepted (and billed) the job.
    return SubmitOutcomeUnknown(
        f"{provider}: submit got no readable answer ({kind}); the job may exist and be billed, so it is not re-sent",
        **context,
    )


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is empty, not JSON, or not an object."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return None
    return body if isinstance(body, dict) else None


def status_error_class(status: int) -> type[ProviderError]:
    """The error family of a non-2xx status when the provider named no documented error."""
    if status in (401, 403):
        return AuthError
    if status == 402:
        return InsufficientCredits
    if status == 408:
        return ProviderTimeout
    if status == 429:
        return RateLimited
    if 400 <= status < 500:  # 400/404/405/413/415/422/431 and anything else the caller got wrong
        return InvalidRequest
    return ProviderUnavailable  # 5xx, and 1xx/3xx that a JSON API should never answer


def retry_after(headers: httpx.Headers, *, now: float | None = None, reset_header: str | None = None) -> float | None:
    """Seconds the provider asked us to wait, from `Retry-After`, `retry-after-ms`, or a reset header.

    Args:
        now: the current epoch time (injectable for tests).
        reset_header: a provider's reset-time header, e.g. `X-Picsart-Ratelimit-Reset-Time`.
    """
    now = time.time() if now is None else now
    if (value := _number(headers.get("retry-after-ms"))) is not None:
        return max(value / 1000.0, 0.0)
    if (raw := headers.get("retry-after")) is not None:
        return _seconds_or_date(raw, now)
    if reset_header and (value := _number(headers.get(reset_header))) is not None:
        return _wait_until(value, now)
    return None


def _seconds_or_date(raw: str, now: float) -> float | None:
    if (value := _number(raw)) is not None:
        return max(value, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw)  # RFC 9110 also allows an HTTP date
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def _wait_until(value: float, now: float) -> float:
    # UNCONFIRMED (providers.md §1): the reset header's format is not documented. A value above 1e9 is
    # read as an epoch time (milliseconds above 1e12), anything smaller as seconds to wait.
    if value > _EPOCH_MILLISECONDS:
        return max(value / 1000.0 - now, 0.0)
    if value > _EPOCH_SECONDS:
        return max(value - now, 0.0)
    return max(value, 0.0)


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class ReplyMeta:
    """What a reply's headers say about ids, credits and rate limits."""

    request_id: str | None
    correlation_id: str | None
    credits_available: float | None
    credits_used: float | None
    rate_limit_json: str


def reply_meta(
    headers: httpx.Headers,
    *,
    correlation_header: str | None = None,
    credits_available_header: str | None = None,
    credits_used_header: str | None = None,
) -> ReplyMeta:
    """Collect ids, credits and every rate-limit header of one reply."""
    correlation = headers.get(correlation_header) if correlation_header else None
    limits = {
        name.lower(): value
        for name, value in headers.items()
        if "ratelimit" in name.lower() or "rate-limit" in name.lower() or name.lower().startswith("retry-after")
    }
    return ReplyMeta(
        request_id=headers.get("x-request-id") or correlation,
        correlation_id=correlation,
        credits_available=_number(headers.get(credits_available_header)) if credits_available_header else None,
        credits_used=_number(headers.get(credits_used_header)) if credits_used_header else None,
        rate_limit_json=json.dumps(limits, sort_keys=True),
    )


def id_text(value: Any) -> str | None:
    """A job id from a JSON value (string or integer), or None when it is missing or empty."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def redact(text: str, secret: str | None) -> str:
    """`text` with every whole-token occurrence of the secret blanked out (a provider may echo a bad key).

    Whole tokens only: a one-letter key must not mask every letter "k" of a message.
    """
    return redact_token(text, secret)


def format_hint(name: str | None, fallback: str) -> str:
    """An output's format from a file name or URL path extension (png, jpeg, webp), else `fallback`."""
    return (format_from_name(name) if name else None) or fallback


def decode_base64_image(value: str) -> tuple[bytes, str] | None:
    """Bytes and format of a base64 image, bare or as a `data:image/...;base64,` URI; None if not base64."""
    declared = ""
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if ";base64" not in header:
            return None
        declared = format_from_media_type(header[5:]) or ""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (data, declared or sniff_format(data) or "png") if data else None
