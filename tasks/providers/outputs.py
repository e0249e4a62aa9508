"""Fetching the output URLs a provider returns: the source guards, with failures mapped into provider errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tasks.core.errors import (
    FetchFailed,
    FetchRefused,
    JobFailed,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    SourceError,
    SourceRefused,
)
from tasks.http.guarded import FetchLimits, fetch_guarded
from tasks.imaging.probe import check_image

__all__ = ["OutputLimits", "fetch_output_bytes"]

# Outputs up to this size are checked on the event loop: verifying them costs less than a thread hop.
_CHECK_INLINE_BYTES = 64 * 1024


def _trust_nothing(url: httpx.URL) -> bool:
    return False


@dataclass(frozen=True)
class OutputLimits:
    """How a provider's output URLs are fetched (the catalog.sources caps; the provider's own timeout).

    Args:
        max_bytes: body bytes allowed per output, after decompression.
        max_pixels: width × height allowed, read from the header.
        deadline: seconds for one output's whole fetch.
        max_redirects: hops followed, each checked.
        trusted: hosts that may sit on internal addresses, by URL (the provider adds its own base_url).
    """

    max_bytes: int = 50_000_000
    max_pixels: int = 50_000_000
    deadline: float = 120.0
    max_redirects: int = 5
    trusted: Callable[[httpx.URL], bool] = field(default=_trust_nothing, compare=False)


async def fetch_output_bytes(provider: str, client: httpx.AsyncClient, url: str, limits: OutputLimits) -> bytes:
    """The bytes of one output URL, checked to be an image within the pixel cap.

    Raises:
        ProviderUnavailable / ProviderTimeout: fetching again may help (5xx, network, deadline, truncated).
        JobFailed: it cannot: the output is gone (404/410) or the guards refused it.
    """
    guard = FetchLimits(limits.max_bytes, limits.deadline, limits.max_redirects, limits.trusted)
    try:
        data = await fetch_guarded(client, url, guard)
    except FetchRefused as error:
        raise JobFailed(f"{provider}: an output was refused: {error.message}", provider=provider) from None
    except FetchFailed as error:
        raise _failed(provider, error) from None
    try:
        if len(data) <= _CHECK_INLINE_BYTES:
            check_image(data, limits.max_pixels, decode=False)
        else:
            await asyncio.to_thread(check_image, data, limits.max_pixels, decode=False)
    except SourceRefused as error:
        raise JobFailed(f"{provider}: an output {error.message}", provider=provider) from None
    except SourceError:
        raise ProviderUnavailable(
            f"{provider}: an output's bytes do not decode (truncated?)", provider=provider
        ) from None
    return data


def _failed(provider: str, error: FetchFailed) -> ProviderError:
    status = error.context.get("status_code")
    if status in (404, 410):
        return JobFailed(
            f"{provider}: output is gone (HTTP {status}); it may have expired", provider=provider, status_code=status
        )
    family = ProviderTimeout if error.context.get("timed_out") else ProviderUnavailable
    return family(f"{provider}: fetching an output failed: {error.message}", provider=provider, status_code=status)
