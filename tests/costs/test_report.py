"""Cost reports: actual against forecast, failures, the spend chart, and the monthly summary."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from tasks.core.config import BudgetConfig
from tasks.core.models import EditJob, EditResult
from tasks.costs import (
    LEDGER_SCHEMA,
    BudgetTracker,
    PriceTable,
    forecast,
    ledger_frame,
    ledger_rows,
    write_forecast,
    write_ledger_part,
)
from tasks.pipeline.manifest import RunSummary, read_manifest, write_manifest
from tasks.reports import monthly_summary, write_cost_report, write_monthly_summary
from tasks.storage.fs import Storage
from tasks.storage.results import write_results_part
from tests.costs.kit import TODAY, make_job
from tests.costs.test_ledger import finished

RUN = "20260301T100000Z-abc123"


def planned_jobs() -> list[EditJob]:
    jobs = [make_job("pixapi.edits", "nano-banana", variant="quick", key=f"p{i}", row_id=f"r{i}") for i in range(4)]
    jobs += [make_job("fashn.edit", None, variant="fashn", count=2, key=f"f{i}", row_id=f"r{i}") for i in range(3)]
    return jobs


def run_results(jobs: list[EditJob]) -> list[EditResult]:
    """3 Pixapi successes + 1 unbilled failure; FASHN: 1 success billed 3 credits, 1 billed failure, 1 skipped."""
    start = 1_772_359_200.0  # 2026-03-01 10:00 UTC
    outcomes = [
        finished(jobs[0], run_id=RUN, finished_at=start + 10),
        finished(jobs[1], run_id=RUN, finished_at=start + 20),
        finished(jobs[2], run_id=RUN, finished_at=start + 30),
        finished(jobs[3], "failed", run_id=RUN, finished_at=start + 35, error_type="ContentRejected"),
        finished(jobs[4], run_id=RUN, finished_at=start + 40, provider_job_id="pred-0", credits=3.0),
        finished(
            jobs[5], "failed", run_id=RUN, finished_at=start + 50, provider_job_id="pred-1", error_type="JobFailed"
        ),
        finished(jobs[6], "skipped", run_id=RUN, error_type="BudgetExceeded"),
    ]
    return outcomes


@pytest.fixture
def storage(tmp_path: Path, table: PriceTable) -> Storage:
    """An output root holding one run's results, ledger and saved forecast."""
    storage = Storage(str(tmp_path / "out"))
    jobs = planned_jobs()
    write_forecast(storage, forecast(jobs, table, {}, TODAY), run_id=RUN)
    tracker = BudgetTracker(BudgetConfig(), table, at=TODAY)
    results = run_results(jobs)
    rows = [row for result in results for row in ledger_rows(result, tracker.reserve(result.job).quote)]
    write_results_part(storage, results, run_id=RUN)
    write_ledger_part(storage, rows, run_id=RUN)
    return storage


def test_report_compares_actual_with_forecast(storage: Storage, table: PriceTable) -> None:
    report = write_cost_report(storage, run_id=RUN, currency=table.currency)
    versus = {(row["provider"], row["model"]): row for row in report.tables["actual_vs_forecast"]}
    pixapi = versus["pixapi.edits", "gemini-2.5-flash-image"]
    assert (pixapi["forecast_credits"], pixapi["actual_credits"], pixapi["delta_credits_pct"]) == (8.0, 6.0, -25.0)
    assert (pixapi["forecast_images"], pixapi["actual_images"]) == (4, 3)
    fashn = versus["fashn.edit", "edit"]
    # forecast 3 jobs x 2 images x 1 credit; actual: 3 reported + 2 for the billed failure.
    assert (fashn["forecast_credits"], fashn["actual_credits"], fashn["billed_requests"]) == (6.0, 5.0, 2)
    per_image = {row["provider"]: row for row in report.tables["cost_per_image"]}
    assert per_image["fashn.edit"]["credits_per_image"] == pytest.approx(2.5)  # 5 credits / 2 images
    failures = {(row["provider"], row["error_type"]): row for row in report.tables["failures"]}
    assert failures["fashn.edit", "JobFailed"]["billed_jobs"] == 1
    assert failures["fashn.edit", "JobFailed"]["credits"] == 2.0
    assert failures["pixapi.edits", "ContentRejected"] == {
        "provider": "pixapi.edits", "error_type": "ContentRejected", "failed_jobs": 1, "billed_jobs": 0,
        "credits": 0.0, "money": 0.0,
    }  # fmt: skip
    text = report.markdown
    assert text.startswith(f"# Cost report — run {RUN}")
    assert "Spent **11 credits (0.11 USD)** on 5 billed requests." in text
    assert "4 succeeded (5 images), 2 failed" in text
    assert "1 skipped" in text and "-21.4%" in text  # 11 against a forecast of 14
    assert "| pixapi.edits | gemini-2.5-flash-image | 4 | 3 | 8 | 6 | -25.0% |" in text
    assert "![cumulative spend by provider](spend.png)" in text


def test_report_files_are_written_and_the_chart_decodes(storage: Storage, table: PriceTable) -> None:
    report = write_cost_report(storage, run_id=RUN, currency=table.currency)
    base = f"reports/{RUN}"
    names = {"report.md", "spend.png", "actual_vs_forecast.parquet", "actual_vs_forecast.csv",
             "cost_per_image.parquet", "cost_per_image.csv", "failures.parquet", "failures.csv"}  # fmt: skip
    assert names <= set(report.uris)
    assert storage.read_bytes(f"{base}/report.md").decode() == report.markdown
    png = storage.read_bytes(f"{base}/spend.png")
    assert png == report.png and len(png) > 5_000
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert (image.format, image.size) == ("PNG", (800, 450))
    table_back = pl.read_parquet(io.BytesIO(storage.read_bytes(f"{base}/failures.parquet")))
    assert table_back.height == 2
    assert storage.read_bytes(f"{base}/failures.csv").decode().startswith("provider,error_type,failed_jobs")


def test_forecast_read_from_the_run_manifest(tmp_path: Path, table: PriceTable) -> None:
    storage = Storage(str(tmp_path / "out"))
    planned = forecast(planned_jobs(), table, {}, TODAY)
    summary = RunSummary(
        run_id=RUN,
        output_uri=storage.uri,
        results_uri="",
        config_hash="h",
        forecast=planned,
        started_at=datetime.now(UTC),
    )
    write_manifest(storage, summary)
    manifest = read_manifest(storage, RUN)
    assert manifest is not None and manifest.forecast == planned
    report = write_cost_report(storage, run_id=RUN, currency="USD", forecast=manifest.forecast)  # no results yet
    versus = {row["provider"]: row for row in report.tables["actual_vs_forecast"]}
    assert versus["fashn.edit"]["forecast_credits"] == 6.0
    assert versus["fashn.edit"]["actual_credits"] is None
    assert "No job failed." in report.markdown
    with Image.open(io.BytesIO(report.png)) as image:
        assert image.size == (800, 450)


def test_report_without_any_forecast(tmp_path: Path) -> None:
    report = write_cost_report(Storage(f"memory://report-{tmp_path.name}"), run_id="r", currency="USD")
    assert "No forecast was saved for this run." in report.markdown


def ledger_row(run_id: str, when: datetime, provider: str, credits: float | None, images: int = 1) -> dict[str, object]:
    return {"run_id": run_id, "time": when, "provider": provider, "status": "succeeded", "images": images,
            "credits": credits, "money": None if credits is None else credits / 100, "currency": "USD"}  # fmt: skip


def monthly_rows() -> list[dict[str, object]]:
    jan, jan2, feb = (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 31, 23, tzinfo=UTC),
                      datetime(2026, 2, 1, tzinfo=UTC))  # fmt: skip
    return [
        ledger_row("a", jan, "pixapi.edits", 2, images=2),
        ledger_row("a", jan, "fashn.edit", 1),
        ledger_row("b", jan2, "pixapi.edits", 14),
        {**ledger_row("b", jan2, "pixapi.edits", 14, images=0), "status": "failed"},
        ledger_row("c", feb, "pixapi.edits", 4),
        ledger_row("c", feb, "fashn.edit", None),
    ]


def test_monthly_summary_groups_by_month_and_provider() -> None:
    summary = monthly_summary(ledger_frame(monthly_rows()))
    rows = {(row["month"], row["provider"]): row for row in summary.to_dicts()}
    assert set(rows) == {
        ("2026-01", "pixapi.edits"),
        ("2026-01", "fashn.edit"),
        ("2026-02", "pixapi.edits"),
        ("2026-02", "fashn.edit"),
    }
    january = rows["2026-01", "pixapi.edits"]
    assert (january["runs"], january["images"], january["billed_requests"], january["credits"]) == (2, 3, 3, 30.0)
    assert january["money"] == pytest.approx(0.30)
    assert rows["2026-02", "fashn.edit"]["credits"] is None  # unknown, not 0


def test_write_monthly_summary_reads_every_run(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "out"))
    rows = monthly_rows()
    for run in ("a", "b", "c"):
        write_ledger_part(storage, [row for row in rows if row["run_id"] == run], run_id=run)
    summary = write_monthly_summary(storage, currency="USD")
    assert len(summary.rows) == 4
    assert "| 2026-01 | pixapi.edits | 2 | 3 | 3 | 30 | 0.30 USD |" in summary.markdown
    assert "| 2026-02 | fashn.edit | 1 | 1 | 1 | unknown | unknown |" in summary.markdown
    assert storage.exists("reports/monthly/summary.parquet") and storage.exists("reports/monthly/summary.csv")
    assert set(LEDGER_SCHEMA) >= {"run_id", "time", "credits"}
