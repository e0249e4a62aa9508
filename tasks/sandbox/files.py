"""The sandbox's own CDN: output images stored in memory and served by URL until they expire."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from tasks.core.formats import EXTENSIONS, MEDIA_TYPES, ImageFormat, format_from_name
from tasks.sandbox.settings import PROVIDERS

__all__ = ["FileStore", "StoredFile", "base_url", "cdn_url", "serve_file"]


@dataclass(frozen=True)
class StoredFile:
    """One output file; ``truncated`` and ``missing`` are injected faults."""

    data: bytes
    expires_at: float
    truncated: bool = False
    missing: bool = False


class FileStore:
    """Files by (provider, name), where name is ``<hex id>.<ext>``."""

    def __init__(self, clock: Callable[[], float], max_bytes: int) -> None:
        self._clock = clock
        self._max_bytes = max_bytes
        self._bytes = 0
        self._files: dict[tuple[str, str], StoredFile] = {}

    def put(
        self, provider: str, data: bytes, image_format: ImageFormat, ttl: float, *, truncated: bool = False,
        missing: bool = False,
    ) -> str:  # fmt: skip
        """Store an encoded image; returns its file name (``<id>.<ext>``)."""
        self._purge()
        name = f"{uuid.uuid4().hex}.{EXTENSIONS[image_format]}"
        self._files[(provider, name)] = StoredFile(data, self._clock() + ttl, truncated, missing)
        self._bytes += len(data)
        # A dry run over a whole dataset must not fill the memory: the oldest files go first.
        while self._bytes > self._max_bytes and len(self._files) > 1:
            self._drop(next(iter(self._files)))
        return name

    def get(self, provider: str, name: str) -> StoredFile | None:
        """The file, or None when unknown or expired (a missing-fault file is returned: it answers 404)."""
        stored = self._files.get((provider, name))
        if stored is None or self._clock() >= stored.expires_at:
            return None
        return stored

    def find(self, provider: str, file_id: str) -> StoredFile | None:
        """A file by its name with or without extension (Picsart's deprecated ``image_id`` inputs)."""
        if "." in file_id:
            return self.get(provider, file_id)
        for ext in EXTENSIONS.values():
            stored = self.get(provider, f"{file_id}.{ext}")
            if stored is not None:
                return stored
        return None

    def _purge(self) -> None:
        now = self._clock()
        for ident in [ident for ident, stored in self._files.items() if now >= stored.expires_at]:
            self._drop(ident)

    def _drop(self, ident: tuple[str, str]) -> None:
        self._bytes -= len(self._files.pop(ident).data)

    def clear(self) -> None:
        """Forget every file (admin reset)."""
        self._files.clear()
        self._bytes = 0


def base_url(request: Request) -> str:
    """The root URL the client reached us on (scheme, host, port, root path), without a trailing slash."""
    return str(request.base_url).rstrip("/")


def cdn_url(root: str, provider: str, name: str) -> str:
    """The absolute URL of a stored file under ``root`` (see ``base_url``)."""
    return f"{root}/cdn/{provider}/{name}"


async def serve_file(request: Request) -> Response:
    """``GET /cdn/{provider}/{name}``: the file, a truncated copy (fault), or 404."""
    provider, name = request.path_params["provider"], request.path_params["name"]
    store: FileStore = request.app.state.sandbox.files
    stored = store.get(provider, name) if provider in PROVIDERS else None
    if stored is None or stored.missing:
        return Response(b"Not Found", status_code=404, media_type="text/plain")
    # A truncated image with a matching Content-Length: the download "succeeds" and fails to decode.
    data = stored.data[: len(stored.data) // 2] if stored.truncated else stored.data
    fmt = format_from_name(name)
    media_type = MEDIA_TYPES[fmt] if fmt else "application/octet-stream"
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
