"""A guarded GET for URLs that someone else chose (catalog sources, provider output URLs).

Every hop is checked before it is sent: http(s) only; a host not trusted by name must resolve to public
unicast addresses only, and the request is pinned to the address that was checked (the URL carries the
IP, the Host header and TLS SNI carry the name), so a second DNS answer cannot swap in an internal one.
Redirects are followed by hand and each hop is checked again. The body is streamed, decompressed with
a cap (`inflate.py`) and cut at `max_bytes`; the whole fetch, redirects included, has one deadline.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tasks.core.errors import FetchFailed, FetchRefused
from tasks.http.addresses import internal_reason, resolve
from tasks.http.inflate import ACCEPT_ENCODING, BoundedInflater, UnsupportedEncoding

__all__ = ["FetchLimits", "fetch_guarded", "origin_of", "shorten_url"]

_REDIRECTS = (301, 302, 303, 307, 308)
_SHORT = 96  # characters of a URL shown in messages


def _trust_nothing(url: httpx.URL) -> bool:
    return False


@dataclass(frozen=True)
class FetchLimits:
    """The guards of one fetch.

    Args:
        max_bytes: body bytes allowed, counted after decompression.
        deadline: seconds for the whole fetch (every hop, every byte).
        max_redirects: hops followed after the first request.
        trusted: True for a URL whose host was allowed by name: it may sit on an internal address.
    """

    max_bytes: int
    deadline: float
    max_redirects: int = 5
    trusted: Callable[[httpx.URL], bool] = field(default=_trust_nothing, compare=False)


async def fetch_guarded(client: httpx.AsyncClient, url: str, limits: FetchLimits) -> bytes:
    """GET `url` under `limits` and return the (decoded) body of its 200 answer.

    Raises:
        FetchRefused: a hop's scheme or address, the redirect count, or the byte cap said no.
        FetchFailed: a transport error, the deadline (`timed_out`), or a final status other than 200
            (`status_code`).
    """
    try:
        async with asyncio.timeout(limits.deadline):
            return await _follow(client, httpx.URL(url), limits)
    except TimeoutError:
        raise FetchFailed(
            f"{shorten_url(url)} gave no complete answer within {limits.deadline:g}s",
            url=shorten_url(url),
            timed_out=True,
        ) from None
    except httpx.InvalidURL:
        raise FetchRefused(f"{shorten_url(url)} is not a valid URL", url=shorten_url(url)) from None


def origin_of(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parsed = httpx.URL(url)
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, parsed.host.lower(), port


def shorten_url(url: str | httpx.URL) -> str:
    """A URL fit for messages: no credentials, no query (signed URLs carry tokens there), at most ~96 chars."""
    text = str(url)
    try:
        parsed = httpx.URL(text)
        text = str(parsed.copy_with(userinfo=b"", query=None, fragment=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        text = text.split("?", 1)[0]
    return text if len(text) <= _SHORT else text[: _SHORT // 2] + "…" + text[-_SHORT // 2 + 1 :]


async def _follow(client: httpx.AsyncClient, url: httpx.URL, limits: FetchLimits) -> bytes:
    for _ in range(limits.max_redirects + 1):
        request = await _pinned_request(client, url, limits)
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as error:
            # `from None`: httpx's message may quote the URL's query (a signed token).
            raise FetchFailed(f"{shorten_url(url)}: {type(error).__name__}", url=shorten_url(url)) from None
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                url = url.join(location)
                continue
            if response.status_code != 200:
                raise FetchFailed(
                    f"{shorten_url(url)} answered HTTP {response.status_code}",
                    url=shorten_url(url),
                    status_code=response.status_code,
                )
            return await _read_capped(response, url, limits.max_bytes)
        finally:
            await response.aclose()
    raise FetchRefused(f"{shorten_url(url)}: more than {limits.max_redirects} redirects", url=shorten_url(url))


async def _pinned_request(client: httpx.AsyncClient, url: httpx.URL, limits: FetchLimits) -> httpx.Request:
    """The request for one hop: checked, and pinned to a checked address unless its host is trusted."""
    if url.scheme not in ("http", "https"):
        shown = shorten_url(url)
        raise FetchRefused(f"{shown}: scheme {url.scheme!r} is not fetched (http and https only)", url=shown)
    headers = {"Accept-Encoding": ACCEPT_ENCODING}
    if limits.trusted(url):
        return client.build_request("GET", url, headers=headers)
    _, host, port = origin_of(url)
    try:
        addresses = await resolve(host, port or 0)
    except OSError:
        shown = shorten_url(url)
        raise FetchFailed(f"{shown}: host {host} does not resolve", url=shown) from None
    for address in addresses:  # every answer: a name with one public and one internal address is refused
        reason = internal_reason(address)
        if reason:
            shown = shorten_url(url)
            raise FetchRefused(
                f"{shown}: host {host} resolves to a {reason} address ({address}); only public addresses are "
                "fetched unless the host is listed by name in catalog.sources.allow",
                url=shown,
            )
    pinned = url.copy_with(host=str(addresses[0]))
    headers["Host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    return client.build_request("GET", pinned, headers=headers, extensions=extensions)


async def _read_capped(response: httpx.Response, url: httpx.URL, max_bytes: int) -> bytes:
    # The URL is shortened for messages only when one is raised: it costs more than a small body's read.
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        shown = shorten_url(url)
        raise FetchRefused(f"{shown} declares {int(declared)} bytes, over the cap of {max_bytes}", url=shown)
    try:
        inflater = BoundedInflater(response.headers.get("content-encoding", ""))
    except UnsupportedEncoding as error:
        shown = shorten_url(url)
        raise FetchRefused(f"{shown}: {error}", url=shown) from None
    chunks: list[bytes] = []
    if response.is_stream_consumed:  # built in memory (mock and in-process transports): already whole
        _take(chunks, response.content, 0, max_bytes, url)
        return response.content
    total = 0
    try:
        async for raw in response.aiter_raw():
            total = _take(chunks, inflater.feed(raw, max_bytes - total), total, max_bytes, url)
        total = _take(chunks, inflater.finish(max_bytes - total), total, max_bytes, url)
    except httpx.HTTPError as error:
        shown = shorten_url(url)
        raise FetchFailed(f"{shown}: the body broke off ({type(error).__name__})", url=shown) from None
    except zlib.error:
        shown = shorten_url(url)
        raise FetchFailed(f"{shown}: the body does not decode", url=shown) from None
    return b"".join(chunks)


def _take(chunks: list[bytes], piece: bytes, total: int, max_bytes: int, url: httpx.URL) -> int:
    total += len(piece)
    if total > max_bytes:
        shown = shorten_url(url)
        raise FetchRefused(f"{shown}: the body passed the cap of {max_bytes} bytes (after decompression)", url=shown)
    chunks.append(piece)
    return total
