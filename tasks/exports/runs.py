"""What the run manifests under an output say about the results an export takes: currency, config hashes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tasks.core.errors import StorageError
from tasks.storage.fs import Storage
from tasks.storage.layout import RUNS_DIR

__all__ = ["RunsInfo", "read_runs"]


@dataclass(frozen=True)
class RunsInfo:
    """The currency the runs priced in, and the config hash of each run."""

    currency: str
    config_hashes: dict[str, str]


def read_runs(storage: Storage) -> RunsInfo:
    """Read every `runs/<run_id>.json`; an unreadable manifest is passed over (it only informs the card)."""
    currency = ""
    hashes: dict[str, str] = {}
    for path in storage.list(RUNS_DIR, ".json"):
        manifest = _read(storage, path)
        if manifest.get("run_id"):
            hashes[str(manifest["run_id"])] = str(manifest.get("config_hash", ""))
        currency = currency or str(manifest.get("currency") or "")
    return RunsInfo(currency=currency, config_hashes=hashes)


def _read(storage: Storage, path: str) -> dict[str, Any]:
    try:
        data = json.loads(storage.read_bytes(path))
    except (OSError, ValueError, StorageError):
        return {}
    return data if isinstance(data, dict) else {}
