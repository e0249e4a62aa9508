"""Load a job's source images under the source policy: allowed roots only, capped bytes, capped pixels."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import fsspec
import httpx

from tasks.core.errors import FetchError, FetchRefused, InputError, SourceError, SourceRefused
from tasks.core.formats import sniff_media_type
from tasks.core.models import ImageRef, InputImage
from tasks.http.guarded import FetchLimits, fetch_guarded, shorten_url
from tasks.imaging.probe import ImageHeader, check_image, read_header
from tasks.storage.source_policy import Allowed, SourcePolicy

__all__ = [
    "Footprint",
    "SourceReader",
    "decoded_size",
    "estimate_footprint",
    "load_image",
    "read_source",
    "shown_source",
]

_PATH_SHOWN = 120  # characters of a path shown in messages
_WORST_BYTES_PER_PIXEL = 4  # RGBA, or one 32-bit band: what an unknown source is budgeted at
# A local file this small (bytes, and decoded pixels) is read and checked on the event loop: that costs
# less than the worker-thread hop around it. Bigger ones, whose decode takes milliseconds, go to a thread.
_INLINE_BYTES = 64 * 1024
_INLINE_DECODED = 1024 * 1024


@dataclass(frozen=True)
class SourceReader:
    """How one job's sources are read: the policy, the caps, the clients.

    Args:
        policy: the catalog's source policy (it also holds the byte and pixel caps).
        http: client for http(s) sources.
        deadline: seconds to fetch one source in total (the smaller of sources.timeout and the provider's).
        storage_options: fsspec options for object-store sources (the catalog's).
    """

    policy: SourcePolicy
    http: httpx.AsyncClient
    deadline: float
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def max_bytes(self) -> int:
        return int(self.policy.config.max_bytes)


@dataclass(frozen=True)
class Footprint:
    """Memory one source takes: its bytes, and its pixels once decoded (upper bounds when unknown)."""

    source_bytes: int
    decoded_bytes: int
    exact: bool = True  # False: upper bounds from the caps (the size is unknown before reading)


def decoded_size(image: InputImage) -> int:
    """Bytes the loaded input's pixels take once decoded (0 for a URL passed on unfetched)."""
    return read_header(image.data).decoded_bytes if image.data else 0


def shown_source(ref: ImageRef) -> str:
    """A reference as messages may show it: no URL query or credentials, no inline bytes, not too long."""
    if ref.kind == "data":
        return f"{ref.value.split(',', 1)[0][:40]},… ({len(ref.value)} chars)"
    if ref.kind == "url":
        return shorten_url(ref.value)
    text = ref.display
    return text if len(text) <= _PATH_SHOWN else text[: _PATH_SHOWN // 2] + "…" + text[-_PATH_SHOWN // 2 + 1 :]


async def estimate_footprint(ref: ImageRef, reader: SourceReader, *, role: str, row_id: str) -> Footprint:
    """What loading `ref` may take, from what is cheap to know before reading it (a stat, a header).

    Raises:
        SourceRefused / SourceError: the policy refuses the reference (checked first, nothing read).
    """
    allowed = _checked(ref, reader.policy, role, row_id)
    worst = reader.policy.config.max_pixels * _WORST_BYTES_PER_PIXEL
    try:
        if allowed.how == "file":
            # On the loop: a stat and a header's few kilobytes cost less than the thread hop around them
            # (as the journal's local writes do); reading and decoding the whole file goes to a thread.
            return _file_footprint(allowed.location, reader.max_bytes)
        if ref.kind == "bytes" and ref.data is not None:
            return Footprint(len(ref.data), read_header(ref.data).decoded_bytes)
    except (InputError, OSError):
        pass  # unreadable or not an image: loading says so, with the row and the source
    inline = len(ref.value) * 3 // 4 if ref.kind == "data" else reader.max_bytes
    return Footprint(min(inline, reader.max_bytes), worst, exact=False)


async def load_image(
    ref: ImageRef,
    reader: SourceReader,
    *,
    need_bytes: bool = True,
    decode: bool = True,
    role: str = "image",
    row_id: str = "",
    footprint: Footprint | None = None,
) -> InputImage:
    """Load one image reference under the policy and check it decodes within the pixel cap.

    Args:
        ref: the reference from the catalog.
        reader: the policy, caps and clients.
        need_bytes: False passes an http(s) source on as its URL (for providers that take URLs), once
            it has been fetched and checked like any other; its bytes are then not kept.
        decode: decode every pixel to check it (True), or check the header's size and the file's
            structure only, for a caller that decodes the bytes itself at once (the local engine).
        role / row_id: named in errors.
        footprint: what `estimate_footprint` found; a small local file is then read on the event loop.

    Raises:
        SourceRefused: not allowed, an internal address, or over the byte or pixel cap (nothing decoded).
        SourceError: missing, unreachable, empty, not an image, or truncated.
    """
    allowed = _checked(ref, reader.policy, role, row_id)
    try:
        data, header = await _read_checked(ref, allowed, reader, decode, small=_small(footprint))
    except InputError as error:
        raise _about(error, ref, role, row_id) from None
    except FetchError as error:
        family = SourceRefused if isinstance(error, FetchRefused) else SourceError
        raise _about(family(f"was not fetched: {error.message}"), ref, role, row_id) from None
    url = allowed.location if allowed.how == "http" else None
    media_type = sniff_media_type(data) if header.format != "WEBP" else "image/webp"
    if url is not None and not need_bytes:
        # Checked like any source, then passed on as its URL: the bytes are not kept.
        return InputImage(data=None, media_type=media_type, url=url, filename=_name(ref.display))
    return InputImage(data=data, media_type=media_type, url=url, filename=_name(ref.display))


def read_source(
    ref: ImageRef, policy: SourcePolicy, *, storage_options: dict[str, Any], role: str, row_id: str
) -> tuple[bytes, ImageHeader]:
    """`load_image` for a caller that decodes the bytes at once, off any event loop (the local engine's worker
    processes): a file, an object store or an inline image, its header and structure checked, nothing decoded.

    Raises:
        SourceRefused / SourceError: as `load_image`.
        ValueError: an http(s) source, which is fetched by `load_image` only (its guards are async).
    """
    allowed = _checked(ref, policy, role, row_id)
    max_bytes = int(policy.config.max_bytes)
    try:
        if allowed.how == "file":
            data = _read_file(allowed.location, max_bytes)
        elif allowed.how == "fsspec":
            data = _read_object(allowed.location, storage_options, max_bytes)
        elif allowed.how == "http":
            raise ValueError(f"row {row_id}: {role} is an http(s) source; load it with load_image")
        elif ref.kind == "bytes":
            data = _capped(ref.data or b"", max_bytes)
        else:
            data = _capped(_decode_data_uri(ref.value, max_bytes), max_bytes)
        return data, _checked_image(data, max_pixels=policy.config.max_pixels, decode=False)
    except InputError as error:
        raise _about(error, ref, role, row_id) from None


def _checked(ref: ImageRef, policy: SourcePolicy, role: str, row_id: str) -> Allowed:
    try:
        return policy.check(ref)
    except InputError as error:
        raise _about(error, ref, role, row_id) from None


def _about(error: InputError, ref: ImageRef, role: str, row_id: str) -> InputError:
    """The same error, its message prefixed with the row, the role and the source (never its bytes)."""
    shown = shown_source(ref)
    return type(error)(f"row {row_id}: {role} {shown} {error.message}", row_id=row_id, column=role, source=shown)


def _small(footprint: Footprint | None) -> bool:
    return (
        footprint is not None
        and footprint.exact
        and footprint.source_bytes <= _INLINE_BYTES
        and footprint.decoded_bytes <= _INLINE_DECODED
    )


async def _read_checked(
    ref: ImageRef, allowed: Allowed, reader: SourceReader, decode: bool, *, small: bool = False
) -> tuple[bytes, ImageHeader]:
    """The source's bytes and checked header; files are read and checked in one trip to a thread (`small`
    local files on the loop)."""
    max_bytes, max_pixels = reader.max_bytes, reader.policy.config.max_pixels
    check = functools.partial(_checked_image, max_pixels=max_pixels, decode=decode)
    if allowed.how in ("file", "fsspec"):
        if allowed.how == "file":
            read = functools.partial(_read_file, allowed.location, max_bytes)
            if small:
                return _read_then_check(read, check)
        else:
            read = functools.partial(_read_object, allowed.location, reader.storage_options, max_bytes)
        try:
            async with asyncio.timeout(reader.deadline):
                return await asyncio.to_thread(_read_then_check, read, check)
        except TimeoutError:
            raise SourceError(f"was not read within {reader.deadline:g}s") from None
    if allowed.how == "http":
        limits = FetchLimits(max_bytes, reader.deadline, reader.policy.config.max_redirects, reader.policy.trusted)
        data = await fetch_guarded(reader.http, allowed.location, limits)
    elif ref.kind == "bytes":
        data = _capped(ref.data or b"", max_bytes)
    else:
        data = _capped(_decode_data_uri(ref.value, max_bytes), max_bytes)
    return data, await asyncio.to_thread(check, data)


def _read_then_check(read: Callable[[], bytes], check: Callable[[bytes], ImageHeader]) -> tuple[bytes, ImageHeader]:
    data = read()
    return data, check(data)


def _checked_image(data: bytes, *, max_pixels: int, decode: bool) -> ImageHeader:
    if not data:
        raise SourceError("is empty (0 bytes)")
    return check_image(data, max_pixels, decode=decode)


def _read_file(path: str, max_bytes: int) -> bytes:
    # A plain open, not fsspec's (~1 ms a file, which counts at a million rows).
    with open(path, "rb") as local:
        _check_size(os.fstat(local.fileno()).st_size, max_bytes)
        return _capped(local.read(max_bytes + 1), max_bytes)


def _read_object(url: str, storage_options: dict[str, Any], max_bytes: int) -> bytes:
    try:
        with fsspec.open(url, "rb", **storage_options) as handle:
            size = getattr(handle, "size", None)
            if isinstance(size, int):
                _check_size(size, max_bytes)
            return _capped(bytes(handle.read(max_bytes + 1)), max_bytes)
    except FileNotFoundError:
        raise SourceError("does not exist") from None
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot be read ({type(error).__name__})") from None


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise SourceRefused(f"is {size} bytes, over catalog.sources.max_bytes={max_bytes}; nothing was read")


def _capped(data: bytes, max_bytes: int) -> bytes:
    _check_size(len(data), max_bytes)
    return data


def _file_footprint(path: str, max_bytes: int) -> Footprint:
    with open(path, "rb") as local:
        size = os.fstat(local.fileno()).st_size
        header = read_header(local)  # lazy: reads the header's few kilobytes, decodes nothing
    return Footprint(min(size, max_bytes), header.decoded_bytes)


def _decode_data_uri(uri: str, max_bytes: int) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or not payload:
        raise SourceError("is not a data: URI with a payload")
    _check_size(len(payload) * 3 // 4, max_bytes)  # before decoding: base64 is 4 characters per 3 bytes
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise SourceError("is a data: URI that is not valid base64") from None


def _name(value: str) -> str:
    base = os.path.basename(value.split("?", 1)[0]) or "image"
    return base[:100]
