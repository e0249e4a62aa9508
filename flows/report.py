"""The report flow: a run's actual cost against its forecast, and the monthly picture across runs."""

from __future__ import annotations

import json
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.core.errors import StorageError
from tasks.costs import load_price_table
from tasks.reports import CostReport, write_cost_report, write_monthly_summary
from tasks.storage.fs import Storage
from tasks.storage.layout import RUNS_DIR, manifest_path, run_id_of_manifest

__all__ = ["cost_report", "latest_run_id", "publish_cost_report"]


def latest_run_id(storage: Storage) -> str | None:
    """The newest run under the storage root that has a manifest (run ids sort by time)."""
    manifests = storage.list(RUNS_DIR, ".json")
    return run_id_of_manifest(manifests[-1]) if manifests else None


def publish_cost_report(storage: Storage, run_id: str, currency: str) -> CostReport:
    """Write a run's report under `reports/<run_id>/` and publish it as Prefect artifacts."""
    report = write_cost_report(storage, run_id=run_id, currency=currency)
    create_markdown_artifact(markdown=report.markdown, key="retouch-cost-report", description=f"costs of run {run_id}")
    if report.tables.get("actual_vs_forecast"):
        create_table_artifact(table=report.tables["actual_vs_forecast"], key="retouch-actual-vs-forecast")
    return report


@flow(name="cost-report")
def cost_report(
    output_uri: str, run_id: str | None = None, storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write `reports/<run_id>/` (report.md, spend.png, tables) and `reports/monthly/`; publish both.

    Raises:
        StorageError: there is no run (or no such run) under `output_uri`.
    """
    storage = Storage(output_uri, storage_options)
    run_id = run_id or latest_run_id(storage)
    if run_id is None or not storage.exists(manifest_path(run_id)):
        raise StorageError(
            f"no run {run_id or ''} under {output_uri}: runs/ has {len(storage.list(RUNS_DIR, '.json'))} manifest(s)"
        )
    manifest = json.loads(storage.read_bytes(manifest_path(run_id)))
    currency = manifest.get("currency") or load_price_table().currency
    report = publish_cost_report(storage, run_id, currency)
    monthly = write_monthly_summary(storage, currency=currency)
    create_markdown_artifact(
        markdown=monthly.markdown, key="retouch-monthly-costs", description=f"monthly costs under {output_uri}"
    )
    return {"run_id": run_id, "markdown": report.markdown, "monthly": monthly.markdown, "uris": report.uris}
