"""The report flow: a run's actual cost against its forecast, and the monthly picture across runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.core.errors import StorageError
from tasks.costs import load_price_table
from tasks.pipeline.history import resolve_run
from tasks.pipeline.manifest import read_manifest
from tasks.publish import publish_cost_report
from tasks.reports import write_monthly_summary
from tasks.storage.fs import Storage

__all__ = ["ReportSummary", "cost_report"]


@dataclass(frozen=True)
class ReportSummary:
    """A run's cost report and the monthly summary, as Markdown, and the objects written."""

    run_id: str
    markdown: str
    monthly: str
    uris: Mapping[str, str]


@flow(name="cost-report")
def cost_report(
    output_uri: str, run_id: str | None = None, storage_options: dict[str, Any] | None = None
) -> ReportSummary:
    """Write `reports/<run_id>/` (report.md, spend.png, tables) and `reports/monthly/`; publish both.

    Args:
        output_uri: the output the run wrote to.
        run_id: the run to report; None: the newest run that did work (see `history.default_report_run`).
        storage_options: fsspec options for `output_uri`.

    Raises:
        StorageError: there is no run (or no such run) under `output_uri`; the message lists the runs.
    """
    storage = Storage(output_uri, storage_options)
    run_id = resolve_run(storage, run_id)
    manifest = read_manifest(storage, run_id)
    if manifest is None:  # listed a moment ago: removed since
        raise StorageError(f"the manifest of run {run_id} under {output_uri} is gone", uri=output_uri)
    currency = manifest.currency or load_price_table().currency
    report = publish_cost_report(storage, run_id, currency, forecast=manifest.forecast, balances=manifest.balances)
    monthly = write_monthly_summary(storage, currency=currency)
    create_markdown_artifact(
        markdown=monthly.markdown, key="retouch-monthly-costs", description=f"monthly costs under {output_uri}"
    )
    return ReportSummary(run_id, report.markdown, monthly.markdown, report.uris)
