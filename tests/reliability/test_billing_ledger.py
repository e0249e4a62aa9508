"""The ledger equals the bill: retouch's costs/ joined with the sandbox's billing ledger on X-Request-Id
(= the job key), job by job and in total, whatever fault the sandbox injects; and no job is billed twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.models import EditJob, EditResult, ImageRef
from tasks.costs import ledger_rows, load_price_table
from tasks.costs.billing import Stage, failure_billed
from tasks.pipeline.journal import read_journal
from tasks.sandbox import SandboxServer, SandboxSettings
from tasks.storage.fs import Storage
from tests.reliability.kit import (
    HEAVY_FAULTS,
    bill,
    billed_twice,
    join_on_request_id,
    ledger,
    reset,
    results,
    run_jobs,
    sandbox_config,
)


def assert_ledger_equals_bill(base_url: str, out: Path) -> dict[str, tuple[float, float]]:
    joined = join_on_request_id(base_url, out)
    differ = {key: pair for key, pair in joined.items() if abs(pair[0] - pair[1]) > 1e-9}
    if differ:
        rows = results(out).filter(pl.col("job_key").is_in(list(differ)))
        seen = rows.select("job_key", "provider", "status", "error_type", "error_message").rows()
        raise AssertionError(f"ledger credits differ from the bill (billed, recorded): {differ}; rows: {seen}")
    assert billed_twice(base_url) == {}
    billed_keys = {entry["request_id"] for entry in bill(base_url)}
    per_job = ledger(out).group_by("job_key").len()
    assert per_job.filter(pl.col("job_key").is_in(list(billed_keys)) & (pl.col("len") != 1)).height == 0
    return joined


def faults(provider: str, **rates: Any) -> dict[str, Any]:
    return {"seed": 3, "on_reads": False, "providers": {provider: rates}}


@pytest.mark.usefixtures("prefect_harness")
def test_under_the_heaviest_fault_mix_the_ledger_equals_the_bill_job_by_job(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    reset(sandbox.base_url, {"seed": 5, **HEAVY_FAULTS})
    path = sandbox_config(tmp_path, sandbox.base_url, rows=8, provider={"timeout": 4})
    summary = edit_catalog(str(path))
    joined = assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    total_billed = sum(entry["credits"] for entry in bill(sandbox.base_url))
    assert sum(recorded for _, recorded in joined.values()) == total_billed == summary.credits > 0
    table = results(tmp_path / "out").unique(subset=["job_key"])
    assert table.height == 32 and {"failed", "unknown"} <= set(table["status"])  # the faults really hit


def test_outputs_that_404_are_billed_once_and_recorded(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url, faults("picsart", output_404=1.0))
    path = sandbox_config(tmp_path, sandbox.base_url, variants=("edit",), providers={"picsart.edit": {"mode": "async"}})
    summary = run_jobs(path, run_id="r")
    assert summary.counts == {"failed": 4}
    joined = assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    assert sorted(joined.values()) == [(1.0, 1.0)] * 4
    assert set(ledger(tmp_path / "out")["status"]) == {"failed"}


def test_truncated_outputs_are_billed_and_recorded(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(
        sandbox.base_url,
        {"seed": 3, "on_reads": False, "providers": {"picsart": {"truncated": 1.0}, "pixapi": {"truncated": 1.0}}},
    )
    quick = {"retry": {"attempts": 2, "base": 0.01, "cap": 0.02}}
    path = sandbox_config(tmp_path, sandbox.base_url, variants=("edit", "pixapi"), provider=quick)  # files; base64
    summary = run_jobs(path, run_id="r")
    # Cut files fail the job; a status reply cut on the wire every time leaves it to the next run (unknown).
    assert summary.counts == {"failed": 4, "unknown": 4}
    joined = assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    assert len(joined) == 8 and all(billed > 0 for billed, _ in joined.values())


def test_a_fashn_pipeline_error_is_refunded_and_kept_off_the_ledger(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url, faults("fashn", job_fail=1.0))
    path = sandbox_config(tmp_path, sandbox.base_url, rows=8, variants=("fashn",))
    run_jobs(path, run_id="r")
    joined = assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    table = results(tmp_path / "out")
    errors = dict(table.select("job_key", "error_message").iter_rows())
    charged = {key for key, (billed, _) in joined.items() if billed}
    refunded = set(errors) - charged
    assert refunded and all("PipelineError" in errors[key] for key in refunded)
    assert charged and all("ImageLoadError" in errors[key] for key in charged)
    assert set(ledger(tmp_path / "out")["job_key"]) == charged


def test_a_picsart_sync_job_failure_is_billed_and_recorded(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url, faults("picsart", job_fail=1.0))
    path = sandbox_config(
        tmp_path, sandbox.base_url, variants=("outpaint",), providers={"picsart.outpaint": {"mode": "sync"}}
    )
    assert run_jobs(path, run_id="r").counts == {"failed": 4}
    joined = assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    assert sorted(joined.values()) == [(1.0, 1.0)] * 4
    assert results(tmp_path / "out")["provider_job_id"].null_count() == 0  # the failed job's id is kept


def test_pixapi_failures_are_refunded_and_kept_off_the_ledger(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url, faults("pixapi", job_fail=1.0))
    path = sandbox_config(tmp_path, sandbox.base_url, variants=("pixapi",))
    assert run_jobs(path, run_id="r").counts == {"failed": 4}
    assert bill(sandbox.base_url) == [] and ledger(tmp_path / "out").height == 0


def test_malformed_and_hung_submits_are_recorded_unknown_with_billing_risk(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    reset(sandbox.base_url, {**faults("picsart", malformed=0.5, hang=0.5), "hang_seconds": 5.0})
    path = sandbox_config(tmp_path, sandbox.base_url, rows=6, variants=("edit",), provider={"timeout": 2})
    assert run_jobs(path, run_id="r").counts == {"unknown": 6}
    assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    assert ledger(tmp_path / "out")["billing_risk"].all()


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxServer]:
    """Async jobs take 1.5 s: longer than the poll deadline the next test sets."""
    settings = SandboxSettings.model_validate({"picsart": {"async_seconds": 1.5}})
    with SandboxServer(settings) as server:
        yield server


def test_a_streak_of_poll_errors_does_not_lose_the_job(slow_sandbox: SandboxServer, tmp_path: Path) -> None:
    # Half of all requests fail with a 5xx and each is tried twice: poll streaks that once failed the job
    # (and dropped its journal entry, so the re-run bought it again) now only delay it.
    base = slow_sandbox.base_url
    reset(base, {"seed": 7, "on_reads": True, "providers": {"picsart": {"http_5xx": 0.5}}})
    twice = {"retry": {"attempts": 2, "base": 0.01, "cap": 0.02}, "mode": "async"}
    path = sandbox_config(tmp_path, base, rows=6, variants=("edit",), providers={"picsart.edit": twice})
    run_jobs(path, run_id="r")
    assert_ledger_equals_bill(base, tmp_path / "out")
    accepted = {entry["request_id"] for entry in bill(base)}  # the submits the 5xx let through
    table = results(tmp_path / "out")
    assert accepted and set(table.filter(pl.col("status") == "succeeded")["job_key"]) == accepted
    stats = httpx.get(f"{base}/_sandbox/stats").json()["picsart"]
    assert stats["faults"]["http_5xx"] >= 3 * len(accepted)  # most of them hit polls


@pytest.mark.usefixtures("prefect_harness")
def test_an_abandoned_poll_is_ledgered_once_and_finished_by_the_next_run_without_paying_again(
    slow_sandbox: SandboxServer, tmp_path: Path
) -> None:
    base = slow_sandbox.base_url
    reset(base)
    path = sandbox_config(
        tmp_path, base, variants=("edit",), providers={"picsart.edit": {"mode": "async", "poll_deadline": 0.2}}
    )
    first = edit_catalog(str(path))
    assert first.counts == {"unknown": 4}
    out = tmp_path / "out"
    assert_ledger_equals_bill(base, out)
    kept = read_journal(Storage(str(out))).accepted
    assert len(kept) == 4 and all(entry.ledgered_credits == 1.0 for entry in kept.values())

    raw = path.read_text().replace("poll_deadline: 0.2", "poll_deadline: 30")
    path.write_text(raw)
    second = edit_catalog(str(path))
    assert second.counts == {"succeeded": 4} and second.credits == 0  # polled, not bought
    assert_ledger_equals_bill(base, out)
    assert ledger(out).height == 4 and read_journal(Storage(str(out))).accepted == {}


@pytest.mark.usefixtures("prefect_harness")
def test_the_budget_settles_against_the_same_figures_as_the_ledger(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url, {"seed": 9, **HEAVY_FAULTS})
    path = sandbox_config(tmp_path, sandbox.base_url, rows=6, provider={"timeout": 4}, budget={"max_credits": 12})
    summary = edit_catalog(str(path), proceed_to_cap=True)
    joined = assert_ledger_equals_bill(sandbox.base_url, tmp_path / "out")
    billed = sum(entry["credits"] for entry in bill(sandbox.base_url))
    assert summary.credits == billed == sum(recorded for _, recorded in joined.values()) <= 12
    assert summary.counts.get("skipped", 0) > 0


def _job(provider: str) -> EditJob:
    model = "gemini-2.5-flash-image" if provider == "pixapi.edits" else None  # Pixapi has no default model
    return EditJob(
        job_key="k", row_id="r", variant="v", provider=provider, model=model, prompt="p", params_json="{}",
        seed=None, count=1, image=ImageRef(kind="path", value="x.png"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "stage", "error_name", "billed"),
    [
        ("fashn.edit", Stage.VERDICT, "PipelineError", False),  # refunded, as configs/pricing.yaml says
        ("fashn.edit", Stage.VERDICT, "ImageLoadError", True),
        ("pixapi.edits", Stage.VERDICT, "internal_error", False),  # Pixapi bills only successful output
        ("pixapi.edits", Stage.DELIVERED, None, True),  # the output was produced, then lost on our side
        ("picsart.edit", Stage.VERDICT, None, True),
        ("picsart.edit", Stage.REJECTED, None, False),  # an error answer: nothing was created
        ("picsart.edit", Stage.ABANDONED, None, True),
        ("picsart.outpaint", None, None, False),  # never sent
    ],
)
def test_each_failure_is_ledgered_by_the_providers_refund_rule(
    provider: str, stage: Stage | None, error_name: str | None, billed: bool
) -> None:
    table = load_price_table()
    quote = table.quote_job(_job(provider), date(2026, 1, 1))
    assert failure_billed(quote, stage, error_name) is billed
    result = EditResult(
        job=_job(provider), status="failed", run_id="r", billed=failure_billed(quote, stage, error_name)
    )
    assert len(ledger_rows(result, quote)) == int(billed)


def test_the_price_table_names_pipeline_error_as_refunded() -> None:
    quote = load_price_table().quote_job(_job("fashn.edit"), date(2026, 1, 1))
    assert "PipelineError" in quote.refunded_errors and quote.failed_billed
