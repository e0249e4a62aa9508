"""Is a source image there? A look at a reference without reading it (http(s) sources are never fetched)."""

from __future__ import annotations

import os
from typing import Any

import fsspec
import httpx

from tasks.core.models import ImageRef

__all__ = ["missing_source"]


def missing_source(ref: ImageRef, storage_options: dict[str, Any] | None = None) -> str | None:
    """Why `ref` cannot be read, or None when it looks readable.

    Local files and object-store URLs are looked up (one stat or HEAD, nothing read); an http(s) URL is only
    checked to be well-formed: fetching it is the run's business, under its source rules. Inline sources
    (data: URIs, catalog bytes) are always there.
    """
    if ref.kind == "path":
        return None if os.path.isfile(ref.value) else f"{ref.value} does not exist"
    if ref.kind != "url":
        return None
    if ref.value.startswith(("http://", "https://")):
        try:
            host = httpx.URL(ref.value).host
        except httpx.InvalidURL as error:
            return f"{ref.value} is not a well-formed URL: {error}"
        return None if host else f"{ref.value} names no host"
    try:
        fs, path = fsspec.core.url_to_fs(ref.value, **(storage_options or {}))
        return None if fs.exists(path) else f"{ref.value} does not exist"
    except (ImportError, ValueError, OSError) as error:
        return f"{ref.value} cannot be looked up: {error}"
