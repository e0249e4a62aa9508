"""The cost ledger: which results are billed, and the Parquet round trip through Storage."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tasks.core.models import EditJob, EditResult, StoredOutput
from tasks.costs import LEDGER_SCHEMA, PriceTable, billed_credits, ledger_rows, read_ledger, write_ledger_part
from tasks.storage.fs import Storage
from tests.costs.kit import TODAY, make_job


def output(index: int) -> StoredOutput:
    return StoredOutput(
        index=index, uri=f"out/{index}.png", width=64, height=64, format="png", bytes=100, sha256="0" * 64
    )


def finished(job: EditJob, status: str = "succeeded", *, run_id: str = "run-1", **fields: Any) -> EditResult:
    outputs = tuple(output(i) for i in range(job.count)) if status == "succeeded" else ()
    base: dict[str, Any] = {"outputs": outputs, "started_at": 1_767_225_600.0, "finished_at": 1_767_225_610.0}
    return EditResult(job=job, status=status, run_id=run_id, **{**base, **fields})  # type: ignore[arg-type]


def test_succeeded_job_with_provider_credits(table: PriceTable) -> None:
    job = make_job("fashn.edit", None, count=2, key="f1")
    result = finished(job, provider_job_id="pred-1", credits=3.0)
    (row,) = ledger_rows(result, table.quote_job(job, TODAY))
    assert (row["source"], row["credits"], row["money"], row["images"]) == ("provider", 3.0, pytest.approx(0.03), 2)
    assert (row["provider_job_id"], row["model"], row["status"]) == ("pred-1", "edit", "succeeded")
    assert row["entry_id"] == "fashn.edit/edit@2025-12-01[resolution=1k,generation_mode=default]"
    assert set(row) == set(LEDGER_SCHEMA)


def test_succeeded_job_without_a_figure_uses_the_price_table(table: PriceTable) -> None:
    job = make_job("pixapi.edits", "gpt-image-2", params={"size": "2048x1024", "quality": "low"}, count=3)
    quote = table.quote_job(job, TODAY)
    (row,) = ledger_rows(finished(job), quote)
    assert (row["source"], row["credits"]) == ("price_table", 6.0)
    assert billed_credits(finished(job), quote) == 6.0


@pytest.mark.parametrize(
    ("provider", "model", "fields", "billed"),
    [
        ("fashn.edit", None, {"provider_job_id": "pred-9"}, True),  # accepted, then failed: FASHN bills (assumed)
        ("fashn.edit", None, {}, False),  # failed before anything was accepted
        ("fashn.edit", None, {"provider_job_id": "pred-9", "credits": 0.0}, False),  # the provider said: free
        ("pixapi.edits", "nano-banana", {"provider_job_id": "task-1"}, False),  # Pixapi bills successful output only
        ("pixapi.edits", "nano-banana", {"credits": 2.0}, True),  # ... unless it reports a charge
        ("picsart.edit", None, {"billing_risk": True}, True),  # submit outcome unknown, then failed
    ],
)
def test_failed_jobs_are_in_the_ledger_only_when_billed(
    table: PriceTable, provider: str, model: str | None, fields: dict[str, Any], billed: bool
) -> None:
    job = make_job(provider, model)
    result = finished(job, "failed", error_type="JobFailed", **fields)
    rows = ledger_rows(result, table.quote_job(job, TODAY))
    assert bool(rows) is billed
    if rows:
        assert rows[0]["status"] == "failed" and rows[0]["error_type"] == "JobFailed" and rows[0]["images"] == 0
    assert (billed_credits(result, table.quote_job(job, TODAY)) > 0) is billed  # type: ignore[operator]


def test_unknown_outcome_counts_as_billed_and_skipped_never(table: PriceTable) -> None:
    job = make_job("pixapi.edits", "nano-banana")
    quote = table.quote_job(job, TODAY)
    (row,) = ledger_rows(finished(job, "unknown", billing_risk=True), quote)
    assert (row["credits"], row["billing_risk"]) == (2.0, True)
    assert ledger_rows(finished(job, "skipped", error_type="BudgetExceeded"), quote) == []


@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return Storage(str(tmp_path / "out"))
    return Storage(f"memory://ledger-{uuid.uuid4().hex}")


def test_round_trip_through_storage(storage: Storage, table: PriceTable) -> None:
    assert read_ledger(storage).height == 0
    assert write_ledger_part(storage, [], run_id="run-1") is None
    first = make_job("pixapi.edits", "nano-banana", key="a")
    second = make_job("fashn.edit", None, key="b")
    rows = ledger_rows(finished(first), table.quote_job(first, TODAY))
    rows += ledger_rows(finished(second, credits=1.0), table.quote_job(second, TODAY))
    url = write_ledger_part(storage, rows, run_id="run-1")
    assert url is not None and "costs/part-run-1-" in url
    other = ledger_rows(finished(first, run_id="run-1-b"), table.quote_job(first, TODAY))
    write_ledger_part(storage, other, run_id="run-1-b")
    everything = read_ledger(storage)
    assert everything.height == 3
    assert dict(everything.schema) == LEDGER_SCHEMA
    one = read_ledger(storage, run_id="run-1")  # the part name prefix alone would also match run-1-b
    assert sorted(one.get_column("job_key").to_list()) == ["a", "b"]
    assert one.get_column("credits").sum() == 3.0
