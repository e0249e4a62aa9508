"""A scheduled refresh: its parameters, and the check that ends it early when nothing changed or the output is busy.

A refresh over a catalog and config equal to the last complete run's has nothing to do, and finding that
out by planning would read every row. So each run's manifest records the catalog's version (see
`catalog_version`) and the config hash, and a refresh compares them first: equal, it writes an
"unchanged" manifest and ends. It looks while holding the output lease, so it never reads a half-written
state: a previous run still writing is waited for (`RefreshSchedule.wait` seconds), then skipped.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.core.config import PipelineConfig, config_hash
from tasks.core.errors import ConfigError, LeaseHeld
from tasks.pipeline.catalog_version import CatalogVersion, catalog_version
from tasks.pipeline.history import run_ids
from tasks.pipeline.lease import output_lease
from tasks.pipeline.manifest import RunSummary, read_manifest, write_manifest
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR

__all__ = [
    "RefreshSchedule",
    "check_config_pin",
    "config_digest",
    "is_complete",
    "last_run",
    "open_refresh",
    "unchanged_since",
]


class RefreshSchedule(BaseModel):
    """How a deployment's runs refresh: the main flow's `schedule` parameter (None: a plain run).

    Attributes:
        cron: the deployment's schedule; each run projects the spend of the coming runs from it.
        horizon_days: how far ahead that projection looks.
        config_sha256: the config file's content hash when it was deployed; a run refuses a file that no
            longer matches, so an edited config never changes what a schedule spends unseen (None: unpinned).
        wait: seconds to wait for a previous run still holding the output before skipping this one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str | None = None
    horizon_days: float = Field(30.0, gt=0, le=3660)
    config_sha256: str | None = None
    wait: float = Field(600.0, ge=0)


def config_digest(path: str | Path) -> str:
    """The sha256 (hex) of a config file's bytes.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}", path=str(path)) from None


def check_config_pin(path: str | Path, expected: str | None) -> None:
    """Refuse a config file edited since it was deployed (nothing is read or spent yet).

    Raises:
        ConfigError: the file's hash is not `expected`; the message says how to accept the change.
    """
    found = config_digest(path)
    if expected is not None and found != expected:
        raise ConfigError(
            f"config {path} changed since it was deployed (sha256 {expected[:12]}… then, {found[:12]}… now); a "
            f"scheduled run never spends under a config nobody deployed: run `retouch deploy` (or serve) again "
            f"to accept it",
            path=str(path),
        )


def is_complete(run: RunSummary) -> bool:
    """True when the run planned the whole catalog and left nothing to do: no failure, stop or limit."""
    return (
        not run.dry_run
        and run.skipped is None
        and run.limit is None
        and not run.only_failed
        and run.catalog_version is not None
        and not (run.interrupted or run.budget_stop or run.lanes_stopped or run.not_run)
        and set(run.counts) <= {"succeeded"}
    )


def last_run(storage: Storage) -> RunSummary | None:
    """The newest run under the output that was not a dry run (dry runs change nothing)."""
    for run_id in reversed(run_ids(storage)):
        run = read_manifest(storage, run_id)
        if run is not None and not run.dry_run:
            return run
    return None


def unchanged_since(storage: Storage, config: PipelineConfig, version: CatalogVersion) -> RunSummary | None:
    """The last run, when it was complete and saw this very catalog and config; None otherwise."""
    last = last_run(storage)
    if last is None or not is_complete(last):
        return None
    return last if last.config_hash == config_hash(config) and version.same_files(last.catalog_version) else None


def open_refresh(config: PipelineConfig, run_id: str, *, wait: float, started_at: datetime) -> RunSummary | None:
    """Under the output lease: a finished summary when this refresh has nothing to do, else None (plan it).

    Unchanged: the manifest is written and the summary says `unchanged`. The output held by another run
    past `wait` seconds: nothing is written and the summary says `skipped` and why.

    Raises:
        CatalogError: the catalog's version cannot be read.
        StorageError: the output or its manifests cannot be read or written.
    """
    storage = Storage(config.output.uri, config.output.storage_options)
    try:
        with output_lease(storage, run_id, wait=wait):
            version = catalog_version(config.catalog)
            baseline = unchanged_since(storage, config, version)
            if baseline is None:
                return None
            seen = version.model_copy(update={"rows": baseline.catalog_version and baseline.catalog_version.rows})
            summary = _ended(
                config, storage, run_id, started_at, catalog_version=seen, unchanged=True, currency=baseline.currency
            )
            return summary.model_copy(update={"manifest_uri": write_manifest(storage, summary)})
    except LeaseHeld as held:
        return _ended(config, storage, run_id, started_at, skipped=f"{held} (waited {wait:.0f} s)")


def _ended(
    config: PipelineConfig, storage: Storage, run_id: str, started_at: datetime, **outcome: object
) -> RunSummary:
    finished_at = datetime.now(UTC)
    return RunSummary.model_validate(
        {
            "run_id": run_id,
            "output_uri": config.output.uri,
            "results_uri": storage.url(RESULTS_DIR),
            "config_hash": config_hash(config),
            "started_at": started_at,
            "finished_at": finished_at,
            "seconds": round((finished_at - started_at).total_seconds(), 3),
            **outcome,
        }
    )
