"""A local folder keeping paid-for outputs and their rows while output.uri cannot be written.

One folder per output.uri (so two outputs never adopt each other's work), one entry per job:

    <spool>/<job_key>/<n>.bin     an output image's bytes (its path under output.uri is in record.json)
    <spool>/<job_key>/record.json the job's result rows, ledger rows and image paths; written last, so an
                                  entry without it is incomplete and ignored
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core.config import OutputConfig
from tasks.core.errors import StorageError

__all__ = ["Spool", "SpoolEntry", "spool_dir"]

_RECORD = "record.json"


def spool_dir(output: OutputConfig) -> Path:
    """The spool of one output: `output.spool_dir`, or a folder under the user's cache dir, keyed by the URI."""
    if output.spool_dir:
        root = Path(output.spool_dir).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(cache) / "retouch" / "spool"
    return root / hashlib.sha256(output.uri.rstrip("/").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SpoolEntry:
    """One spooled job: its images (path under output.uri, file in the spool) and its rows."""

    job_key: str
    images: list[tuple[str, Path]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)


class Spool:
    """The spool folder of one output."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(
        self, job_key: str, images: list[tuple[str, bytes]], rows: list[dict[str, Any]], ledger: list[dict[str, Any]]
    ) -> None:
        """Keep one job's images and rows (replacing an earlier entry for the same job).

        Raises:
            StorageError: the local disk failed too; nothing was kept.
        """
        entry = self.root / job_key
        try:
            entry.mkdir(parents=True, exist_ok=True)
            paths = []
            for number, (relative, data) in enumerate(images):
                (entry / f"{number}.bin").write_bytes(data)
                paths.append(relative)
            record = {"job_key": job_key, "images": paths, "rows": rows, "ledger": ledger}
            temporary = entry / f".{_RECORD}.{uuid.uuid4().hex}"
            temporary.write_text(json.dumps(record, default=_plain))
            os.replace(temporary, entry / _RECORD)
        except OSError as error:
            shutil.rmtree(entry, ignore_errors=True)
            raise StorageError(f"cannot spool job {job_key} to {self.root}: {error}", uri=str(self.root)) from None

    def entries(self) -> list[SpoolEntry]:
        """Every complete entry, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir(), key=lambda path: path.stat().st_mtime):
            try:
                record = json.loads((entry / _RECORD).read_text())
            except (OSError, ValueError):
                continue  # incomplete: its job's journal entry (if any) decides what the next run does
            images = [(relative, entry / f"{number}.bin") for number, relative in enumerate(record["images"])]
            found.append(SpoolEntry(record["job_key"], images, record["rows"], record["ledger"]))
        return found

    def remove(self, job_key: str) -> None:
        """Drop an entry once its images and rows are durable under output.uri."""
        shutil.rmtree(self.root / job_key, ignore_errors=True)


def _plain(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
