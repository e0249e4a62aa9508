"""A run's summary: returned by the flow, saved as `runs/<run_id>.json`, and read back here and only here."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.core.errors import StorageError
from tasks.costs import BalanceChange, Forecast
from tasks.pipeline.catalog_version import CatalogVersion
from tasks.pipeline.executor import ShardSummary
from tasks.pipeline.prepared import PreparedRun
from tasks.pipeline.shards import PlanCounts
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR, RUNS_DIR, manifest_path, run_id_of_manifest

__all__ = [
    "RunSummary",
    "RunTotals",
    "latest_run_id",
    "new_run_id",
    "read_manifest",
    "summarize",
    "write_manifest",
]


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunTotals:
    """What a run's shards did, summed: counts by status, images, credits, cost, jobs at billing risk."""

    counts: Mapping[str, int] = field(default_factory=dict)
    images: int = 0
    credits: float = 0.0
    cost: float = 0.0
    billing_risk: int = 0
    shards: int = 0
    lanes_stopped: Mapping[str, str] = field(default_factory=dict)  # provider -> which breaker opened and why

    def plus(self, shard: ShardSummary) -> RunTotals:
        """These totals with one more finished shard's."""
        counts = dict(self.counts)
        for status, count in shard.counts.items():
            counts[status] = counts.get(status, 0) + count
        return RunTotals(
            counts=counts,
            images=self.images + shard.images,
            credits=self.credits + shard.credits,
            cost=self.cost + shard.cost,
            billing_risk=self.billing_risk + shard.billing_risk,
            shards=self.shards + 1,
            lanes_stopped={**shard.lanes_stopped, **self.lanes_stopped},  # the first reason heard stays
        )


class RunSummary(BaseModel):
    """A run's plan counts, outcomes, cost and timing. Unknown keys of older manifests are ignored.

    `manifest_uri` is where the manifest was written or read; it is not saved in the manifest itself.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    output_uri: str
    results_uri: str
    config_hash: str
    dry_run: bool = False
    planned: int = 0
    already_done: int = 0
    to_run: int = 0
    new: int = 0
    changed: int = 0
    retried: int = 0
    forced: int = 0
    removed: int = 0
    held_unknown: int = 0
    passed_over: int = Field(0, description="Jobs `--only-failed` left out (new, changed, other error types).")
    counts: dict[str, int] = Field(default_factory=dict, description="Jobs by final status.")
    images: int = 0
    credits: float = 0.0
    cost: float = 0.0
    currency: str = ""
    forecast: Forecast | None = None
    budget_stop: tuple[str, ...] = Field((), description="The caps the forecast was over (the run went on).")
    billing_risk: int = 0
    shards: int = 0
    lanes_stopped: dict[str, str] = Field(
        default_factory=dict, description="Providers whose circuit breaker stopped their lane, and why."
    )
    interrupted: bool = Field(False, description="The run was stopped (Ctrl-C) before every job had run.")
    balances: tuple[BalanceChange, ...] = Field(
        (), description="Provider accounts' credits before and after the run, against its ledger."
    )
    catalog_version: CatalogVersion | None = Field(
        None, description="The catalog's files (etag/mtime, size) and rows as this run read them."
    )
    limit: int | None = Field(None, description="The row limit the run was prepared with (None: whole catalog).")
    force: bool = False
    only_failed: bool = Field(False, description="Only earlier runs' unsuccessful jobs were planned (--only-failed).")
    unchanged: bool = Field(
        False, description="A scheduled refresh found the catalog and config as the last complete run left them."
    )
    skipped: str | None = Field(None, description="Why a scheduled refresh did nothing (another run held the output).")
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float = 0.0
    manifest_uri: str | None = None

    @property
    def not_run(self) -> int:
        """Jobs of the plan that did not run (a stopped run leaves them to the next)."""
        return max(0, self.to_run - sum(self.counts.values()))

    @property
    def plan(self) -> PlanCounts:
        return PlanCounts(**{name: getattr(self, name) for name in asdict(PlanCounts())})


def summarize(
    prepared: PreparedRun,
    *,
    run_id: str,
    plan: PlanCounts,
    totals: RunTotals,
    budget_stop: tuple[str, ...],
    started_at: datetime,
    dry_run: bool,
    interrupted: bool = False,
    balances: tuple[BalanceChange, ...] = (),
) -> RunSummary:
    """The summary of a run that has just ended (or was stopped: `interrupted`)."""
    finished_at = datetime.now(UTC)
    return RunSummary(
        run_id=run_id,
        output_uri=prepared.config.output.uri,
        results_uri=prepared.storage.url(RESULTS_DIR),
        config_hash=prepared.config_hash,
        dry_run=dry_run,
        **asdict(plan),
        counts=dict(totals.counts),
        images=totals.images,
        credits=totals.credits,
        cost=totals.cost,
        currency=prepared.forecast.currency,
        forecast=prepared.forecast,
        budget_stop=budget_stop,
        billing_risk=totals.billing_risk,
        shards=totals.shards,
        lanes_stopped=dict(totals.lanes_stopped),
        interrupted=interrupted,
        balances=balances,
        catalog_version=prepared.catalog_version,
        limit=prepared.limit,
        force=prepared.force,
        only_failed=prepared.only_failed is not None,
        started_at=started_at,
        finished_at=finished_at,
        seconds=round((finished_at - started_at).total_seconds(), 3),
    )


def write_manifest(storage: Storage, summary: RunSummary) -> str:
    """Save `runs/<run_id>.json` atomically; returns its URL."""
    data = summary.model_dump_json(indent=2, exclude={"manifest_uri"}).encode()
    return storage.write_bytes(manifest_path(summary.run_id), data)


def read_manifest(storage: Storage, run_id: str) -> RunSummary | None:
    """The manifest of `run_id`, or None if that run has none.

    Raises:
        StorageError: the manifest exists but cannot be read as one.
    """
    path = manifest_path(run_id)
    try:
        data = storage.read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        summary = RunSummary.model_validate_json(data)
    except ValidationError as error:
        raise StorageError(f"{storage.url(path)} is not a run manifest: {error}", uri=storage.url(path)) from None
    return summary.model_copy(update={"manifest_uri": storage.url(path)})


def latest_run_id(storage: Storage) -> str | None:
    """The newest run under the storage root that has a manifest (run ids sort by time)."""
    manifests = storage.list(RUNS_DIR, ".json")
    return run_id_of_manifest(manifests[-1]) if manifests else None
