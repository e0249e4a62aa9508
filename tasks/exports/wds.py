"""WebDataset tar shards: per edit `KEY.src.png`, `KEY.edit.png` and `KEY.json`, adjacent in the tar.

Every sample has the same field names (what a training loop indexes by), so an image that is not PNG
is re-encoded to PNG, losslessly from its decoded pixels; `KEY.json` records each original's format
and sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import IO, Any

from PIL import Image

from tasks.exports.loading import ExportRecord

__all__ = ["WebDatasetFormat"]

# Results columns a training loop has no use for; everything else (and the catalog's columns) goes in the JSON.
_LEFT_OUT = {"output_uri", "error_message", "provider_job_id", "request_id", "correlation_id", "source"}


class WebDatasetFormat:
    """Tar shards readable by `webdataset` (`wds.WebDataset(urls).decode("pil")`)."""

    extension = "tar"

    def open(self, handle: IO[bytes]) -> TarShard:
        """A shard streaming tar members into `handle`."""
        return TarShard(tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT))


class TarShard:
    """One tar shard being written; members go straight to the handle."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._tar = tar
        self._mtime = time.time()

    def write(self, records: Sequence[ExportRecord]) -> None:
        for record in records:
            self._add(f"{record.key}.src.png", _png(record.source, record.source_format))
            if record.edited is not None and record.edited_format is not None:
                self._add(f"{record.key}.edit.png", _png(record.edited, record.edited_format))
            self._add(f"{record.key}.json", json.dumps(_metadata(record), default=_json_value, sort_keys=True).encode())

    def close(self) -> None:
        self._tar.close()

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(self._mtime), 0o644
        self._tar.addfile(info, io.BytesIO(data))


def _png(data: bytes, fmt: str) -> bytes:
    if fmt == "png":
        return data
    with Image.open(io.BytesIO(data)) as image:
        converted = image if image.mode in ("1", "L", "LA", "I", "P", "RGB", "RGBA") else image.convert("RGB")
        buffer = io.BytesIO()
        converted.save(buffer, format="PNG")
    return buffer.getvalue()


def _json_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


def _metadata(record: ExportRecord) -> dict[str, Any]:
    row = {name: value for name, value in record.row.items() if name not in _LEFT_OUT}
    if isinstance(row.get("params"), str):
        row["params"] = json.loads(row["params"])
    row.update(
        key=record.key,
        source_format=record.source_format,
        source_sha256=hashlib.sha256(record.source).hexdigest(),
        edited_format=record.edited_format,
        edited_sha256=row.get("sha256"),
    )
    row.pop("sha256", None)
    return row
