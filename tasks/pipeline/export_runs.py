"""The run manifests under an output, as an export needs them: the currency, and each run's config hash."""

from __future__ import annotations

from tasks.core.errors import StorageError
from tasks.exports.runs import RunsInfo
from tasks.pipeline.manifest import read_manifest
from tasks.storage.fs import Storage
from tasks.storage.layout import RUNS_DIR, run_id_of_manifest

__all__ = ["runs_info"]


def runs_info(storage: Storage) -> RunsInfo:
    """Read every run manifest under `storage`; one that cannot be read is passed over (it only informs)."""
    currency = ""
    hashes: dict[str, str] = {}
    for path in storage.list(RUNS_DIR, ".json"):
        try:
            summary = read_manifest(storage, run_id_of_manifest(path))
        except StorageError:
            continue
        if summary is not None:
            hashes[summary.run_id] = summary.config_hash
            currency = currency or summary.currency
    return RunsInfo(currency=currency, config_hashes=hashes)
