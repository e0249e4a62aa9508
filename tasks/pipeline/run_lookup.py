"""Which runs an output holds: checked before a command starts Prefect to report on one."""

from __future__ import annotations

from typing import Any

from tasks.core.errors import StorageError
from tasks.storage.fs import Storage
from tasks.storage.layout import RUNS_DIR, run_id_of_manifest

__all__ = ["check_run_exists"]

_LISTED = 10  # run ids named when the one asked for is not there


def check_run_exists(uri: str, storage_options: dict[str, Any] | None, run_id: str | None) -> None:
    """Make sure `uri` holds a run to report: `run_id`'s manifest, or any manifest when `run_id` is None.

    Raises:
        StorageError: the output cannot be read, holds no run yet, or not `run_id` (the message lists the
            newest ids it has).
    """
    storage = Storage(uri, storage_options)
    try:
        ids = [run_id_of_manifest(path) for path in storage.list(RUNS_DIR, ".json")]
    except OSError as error:
        raise StorageError(f"cannot list the runs under {uri}: {error}", uri=uri) from None
    if not ids:
        raise StorageError(
            f"no runs under {uri} yet: `retouch run CONFIG` writes one (runs/<run_id>.json) when it ends", uri=uri
        )
    if run_id is not None and run_id not in ids:
        newest = ", ".join(reversed(ids[-_LISTED:]))
        raise StorageError(f"no run {run_id} under {uri}; its newest runs: {newest}", uri=uri)
