"""Input images given by reference: data URIs, URLs (our own CDN is read directly), and size probes."""

from __future__ import annotations

import base64
import binascii
import io
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from tasks.sandbox.files import FileStore
from tasks.sandbox.settings import PROVIDERS

__all__ = ["LoadError", "decode_data_uri", "image_size", "load_reference"]


class LoadError(Exception):
    """An image reference could not be turned into bytes (bad data URI, unreachable URL, 404...)."""


def decode_data_uri(value: str) -> bytes:
    """The bytes of a ``data:<type>;base64,<data>`` URI.

    Raises:
        LoadError: not a base64 data URI, or the base64 is invalid.
    """
    header, comma, payload = value.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise LoadError("expected a data URI like data:image/png;base64,<data>")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise LoadError(f"the data URI's base64 is invalid: {error}") from error


async def load_reference(value: str, *, root: str, files: FileStore, client: httpx.AsyncClient) -> bytes:
    """The bytes behind an image reference: a data URI or an http(s) URL.

    URLs on this sandbox's own CDN (under ``root``) are read from ``files`` (no request to ourselves);
    other URLs are fetched, which works for anything reachable from here (a local file server, an S3
    test server).

    Raises:
        LoadError: the reference cannot be read; the message says why.
    """
    if value.startswith("data:"):
        return decode_data_uri(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LoadError(f"expected an http(s) URL or a data URI, got {value[:80]!r}")
    local = _own_cdn_file(value, root, files)
    if local is not None:
        return local
    try:
        response = await client.get(value, follow_redirects=True)
    except httpx.HTTPError as error:
        raise LoadError(f"could not fetch {value[:200]}: {type(error).__name__}") from error
    if response.status_code != 200:
        raise LoadError(f"fetching {value[:200]} answered HTTP {response.status_code}")
    return response.content


def _own_cdn_file(url: str, root: str, files: FileStore) -> bytes | None:
    base = root + "/cdn/"
    if not url.startswith(base):
        return None
    provider, _, name = url[len(base) :].partition("/")
    stored = files.get(provider, name.split("?", 1)[0]) if provider in PROVIDERS else None
    if stored is None or stored.missing:
        raise LoadError(f"fetching {url[:200]} answered HTTP 404")
    return stored.data[: len(stored.data) // 2] if stored.truncated else stored.data


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of an encoded image, or None when it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            # Upright size, as the engine sees it after applying the EXIF orientation.
            return ImageOps.exif_transpose(image).size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, UnidentifiedImageError):
        return None
