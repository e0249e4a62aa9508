"""Run bookkeeping that flows share: run ids, catalog checks, the plan of one run, and manifests."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

from tasks.core.config import PipelineConfig, config_hash
from tasks.core.models import EditJob
from tasks.costs import Forecast, PriceTable, forecast
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.plan import plan_jobs
from tasks.storage.fs import Storage
from tasks.storage.layout import manifest_path
from tasks.storage.results import PriorWork, job_identity

__all__ = [
    "PlanCounts",
    "RunSummary",
    "count_catalog_rows",
    "forecast_run",
    "iter_shards",
    "new_run_id",
    "write_manifest",
]


def forecast_run(
    config: PipelineConfig, *, prior: PriorWork, table: PriceTable, limit: int | None = None, at: date | None = None
) -> Forecast:
    """Price exactly the jobs a run would send (filter, limit, done work skipped); calls no provider.

    Raises:
        UnknownPrice: a job has no price and `pricing.allow_unknown` is not set.
    """
    jobs = (job for shard in iter_shards(config, prior=prior, counts=PlanCounts(), limit=limit) for job in shard)
    providers = {edit.provider for edit in config.edits}
    settings = {name: config.provider_settings(name) for name in providers}
    in_flight = config.execution.concurrency * config.execution.parallel_shards
    return forecast(jobs, table, settings, at or datetime.now(UTC).date(), concurrency=in_flight)


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def count_catalog_rows(config: PipelineConfig, *, limit: int | None = None) -> int:
    """Read and validate the whole catalog once (raises CatalogError); the number of rows to edit."""
    return sum(len(batch) for batch in iter_catalog(config.catalog, limit=limit))


@dataclass
class PlanCounts:
    """How this run's jobs relate to earlier runs' (an incremental refresh reports these)."""

    planned: int = 0
    already_done: int = 0
    to_run: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0
    held_unknown: int = 0


def iter_shards(
    config: PipelineConfig,
    *,
    prior: PriorWork,
    counts: PlanCounts,
    limit: int | None = None,
    on_skip: Callable[[], None] | None = None,
    provider: str | None = None,
    unseen: dict[str, str] | None = None,
) -> Iterator[list[EditJob]]:
    """Jobs not yet done, in shards of `execution.shard_size`, generated lazily from the catalog.

    Counts as it goes: unchanged jobs (key already succeeded) are skipped; a job whose (row, variant,
    seed) succeeded before under another key is changed; the rest are new. Slots of earlier runs that
    this plan never reached are counted as removed once the plan is exhausted.

    Args:
        provider: plan only this provider's variants (one stream per provider, see `edit_catalog`).
        unseen: the earlier runs' slots not yet planned, shared by several streams; the caller then
            counts what is left as removed. None: this call owns a copy and counts removals itself.
    """
    owns_unseen = unseen is None
    unseen = dict(prior.latest) if unseen is None else unseen
    may_resubmit = {
        name: config.provider_settings(name).resubmit_unknown for name in {e.provider for e in config.edits}
    }
    shard: list[EditJob] = []
    for batch in iter_catalog(config.catalog, limit=limit):
        for job in plan_jobs(batch, config, provider=provider):
            counts.planned += 1
            previous = unseen.pop(job_identity(job.row_id, job.variant, job.seed), None)
            if job.job_key in prior.done or (job.job_key in prior.unknown and not may_resubmit[job.provider]):
                # An unknown-outcome job may exist at the provider: re-sending it risks paying twice.
                counts.already_done += job.job_key in prior.done
                counts.held_unknown += job.job_key not in prior.done
                if on_skip is not None:
                    on_skip()
                continue
            counts.to_run += 1
            counts.changed += previous is not None
            counts.new += previous is None
            shard.append(job)
            if len(shard) >= config.execution.shard_size:
                yield shard
                shard = []
    if owns_unseen:
        counts.removed = len(unseen)
    if shard:
        yield shard


@dataclass(kw_only=True)
class RunSummary(PlanCounts):
    """A run's plan counts, outcomes, cost and timing: returned by the flow and saved as its manifest."""

    run_id: str
    output_uri: str
    results_uri: str
    config_hash: str
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    images: int = 0
    credits: float = 0.0
    cost: float = 0.0
    currency: str = ""
    forecast: dict[str, Any] | None = None
    budget_stop: list[str] = field(default_factory=list)
    billing_risk: int = 0
    shards: int = 0
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    manifest_uri: str | None = None

    @property
    def seconds(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def take_counts(self, counts: PlanCounts) -> None:
        for item in fields(PlanCounts):
            setattr(self, item.name, getattr(counts, item.name))

    def as_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items()}
        data["seconds"] = round(self.seconds, 3)
        return data


def write_manifest(storage: Storage, summary: RunSummary, config: PipelineConfig) -> str:
    """runs/<run_id>.json: config hash, counts by status, time taken, where results are."""
    payload = summary.as_dict()
    payload.pop("manifest_uri", None)  # the manifest's own address is where the reader found it
    payload["config_hash"] = config_hash(config)
    payload["started_at"] = datetime.fromtimestamp(summary.started_at, tz=UTC).isoformat()
    if summary.finished_at:
        payload["finished_at"] = datetime.fromtimestamp(summary.finished_at, tz=UTC).isoformat()
    data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
    return storage.write_bytes(manifest_path(summary.run_id), data)
