"""The shipped configs/sandbox.yaml, run for real by the flow against the sandbox: all four providers,
faults injected, forecast against the sandbox's own ledger, budget caps, and the cost report."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml
from PIL import Image

from flows.edit_catalog import edit_catalog
from flows.report import cost_report
from tasks.core.errors import BudgetExceeded
from tasks.sandbox import SandboxServer, SandboxSettings

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROOT = Path(__file__).parents[1]
ROWS = 4  # × (1 picsart-edit + 1 outpaint + 1 pixapi + 2 fashn seeds) = 20 jobs


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    fast = {"async_seconds": 0.05}
    with SandboxServer(
        SandboxSettings.model_validate({n: dict(fast) for n in ("picsart", "pixapi", "fashn")})
    ) as server:
        yield server


@pytest.fixture
def config(sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """configs/sandbox.yaml as shipped, pointed at this test's sandbox and output folder."""
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    monkeypatch.setenv("RETOUCH_SANDBOX_URL", sandbox.base_url)
    raw = yaml.safe_load((ROOT / "configs" / "sandbox.yaml").read_text())
    raw["catalog"]["uri"] = str(ROOT / "data" / "demo" / "catalog.parquet")
    raw["output"]["uri"] = str(tmp_path / "out")
    for settings in raw["providers"].values():
        settings["poll_interval"] = 0.05
        settings["retry"] = {"attempts": 8, "base": 0.05, "cap": 0.5}
    path = tmp_path / "sandbox.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def ledger(sandbox: SandboxServer) -> list[dict]:
    return list(httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"])


def results(config: Path) -> pl.DataFrame:
    return pl.read_parquet(config.parent / "out" / "results" / "*.parquet")


def test_all_four_providers_and_forecast_equals_the_sandbox_ledger(sandbox: SandboxServer, config: Path) -> None:
    summary = edit_catalog(str(config), limit=ROWS)
    assert summary.counts == {"succeeded": 20} and summary.forecast is not None
    table = results(config)
    assert set(table["provider"]) == {"picsart.edit", "picsart.outpaint", "pixapi.edits", "fashn.edit"}
    assert table.filter(pl.col("provider") != "picsart.outpaint")["provider_job_id"].null_count() == 0
    assert table["correlation_id"].filter(table["provider"].str.starts_with("picsart")).null_count() == 0
    assert (table["attempts"] >= 1).all() and table["output_uri"].null_count() == 0
    billed = ledger(sandbox)
    assert summary.forecast.unknown_jobs == 0
    assert summary.forecast.known_credits == sum(entry["credits"] for entry in billed) == summary.credits
    assert len({entry["request_id"] for entry in billed}) == len(billed) == 20


def test_with_faults_every_job_ends_with_a_reason_and_nothing_is_billed_twice(
    sandbox: SandboxServer, config: Path
) -> None:
    faults = {"seed": 11, "http_5xx": 0.10, "http_429": 0.05, "job_fail": 0.05, "malformed": 0.03, "output_404": 0.03}
    httpx.put(f"{sandbox.base_url}/_sandbox/faults", json=faults).raise_for_status()
    summary = edit_catalog(str(config), limit=ROWS)
    table = results(config)
    per_job = table.unique(subset=["job_key"])
    assert per_job.height == 20 and set(per_job["status"]) <= {"succeeded", "failed", "unknown"}
    assert summary.counts.get("succeeded", 0) >= 10
    unfinished = per_job.filter(pl.col("status") != "succeeded")
    assert unfinished["error_type"].null_count() == 0 and unfinished["error_message"].null_count() == 0
    assert (unfinished.filter(pl.col("status") == "unknown")["billing_risk"]).all()
    billed = [entry["request_id"] for entry in ledger(sandbox)]
    assert len(billed) == len(set(billed))  # no job billed twice
    assert (table["attempts"] > 1).any()  # the retries really happened


def test_a_budget_of_half_the_forecast_stops_at_the_cap(sandbox: SandboxServer, config: Path) -> None:
    raw = yaml.safe_load(config.read_text())
    raw["budget"] = {"max_credits": 16}  # the forecast for these 20 jobs is 32 credits
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(BudgetExceeded, match="over budget"):
        edit_catalog(str(config), limit=ROWS)
    assert ledger(sandbox) == []  # stopped before any request
    summary = edit_catalog(str(config), limit=ROWS, proceed_to_cap=True)
    spent = sum(entry["credits"] for entry in ledger(sandbox))
    assert 0 < spent <= 16 and summary.credits == spent
    skipped = results(config).filter(pl.col("status") == "skipped")
    assert summary.counts["skipped"] == skipped.height > 0
    assert set(skipped["error_type"]) == {"BudgetExceeded"}


def test_report_renders_with_its_chart(sandbox: SandboxServer, config: Path) -> None:
    summary = edit_catalog(str(config), limit=2)
    report = cost_report(str(config.parent / "out"))
    assert report.run_id == summary.run_id
    assert "actual is 0.0% against it" in report.markdown  # actual equals forecast: no sign on zero
    chart = Image.open(io.BytesIO((config.parent / "out" / "reports" / summary.run_id / "spend.png").read_bytes()))
    assert chart.size[0] >= 400 and chart.format == "PNG"
    assert (config.parent / "out" / "reports" / "monthly" / "summary.md").exists()
