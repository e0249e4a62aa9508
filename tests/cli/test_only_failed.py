"""`retouch run --only-failed`: retry on purpose just the jobs that ended unsuccessfully, nothing new."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.cli.sandbox_kit import ledger, results
from tests.helpers import local_config, make_catalog, make_png, write_config
from tests.reliability.kit import sandbox_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def latest(out: Path) -> dict[tuple[str, str, int | None], str]:
    """Each job slot's latest status."""
    table = results(out).sort("finished_at").unique(subset=["job_key"], keep="last")
    slots = table.select("row_id", "variant", "seed", "status").iter_rows()
    return {(row, variant, seed): status for row, variant, seed, status in slots}


def test_only_failed_retries_the_chosen_failures_and_plans_nothing_new(tmp_path: Path) -> None:
    # Row S1's image is missing (SourceError, 3 jobs); row S2's prompt is unreadable (InstructionError,
    # its 2 as-written jobs; the mono variant ignores the prompt and succeeds).
    catalog = make_catalog(tmp_path, rows=3, prompts=["blur", "sepia", "make it pop"])
    (tmp_path / "images" / "item-1.png").unlink()
    config = str(write_config(tmp_path, local_config(catalog, tmp_path / "out")))
    first = invoke("run", config)
    assert first.exit_code == 1, first.output
    before = latest(tmp_path / "out")
    assert sum(status == "failed" for status in before.values()) == 5

    make_png(tmp_path / "images" / "item-1.png", seed=1)  # the missing image is back
    grown = pl.read_parquet(catalog)
    make_png(tmp_path / "images" / "item-3.png", seed=3)
    new_row = pl.DataFrame([{"sku": "S3", "src": "images/item-3.png", "instruction": "blur", "title": "new"}])
    pl.concat([grown, new_row]).write_parquet(catalog)

    sources = invoke("run", config, "--only-failed", "--error-type", "SourceError")
    assert sources.exit_code == 0, sources.output
    assert "3 retried" in sources.output and "passed over by --only-failed" in sources.output
    after = latest(tmp_path / "out")
    assert [slot for slot in after if slot[0] == "S1"] and all(
        s == "succeeded" for k, s in after.items() if k[0] == "S1"
    )
    assert not [slot for slot in after if slot[0] == "S3"]  # the new row was not planned
    assert sorted(s for k, s in after.items() if k[0] == "S2") == ["failed", "failed", "succeeded"]

    rest = invoke("run", config, "--only-failed")
    assert rest.exit_code == 1, rest.output  # the unreadable prompt fails again
    assert "2 retried" in rest.output
    assert not [slot for slot in latest(tmp_path / "out") if slot[0] == "S3"]

    nothing = invoke("run", config, "--only-failed", "--error-type", "SourceError")
    assert nothing.exit_code == 0 and "Nothing to retry" in nothing.output, nothing.output

    plain = invoke("run", config)  # a plain re-run picks up the new row (and retries the rest)
    assert any(slot[0] == "S3" for slot in latest(tmp_path / "out")), plain.output


@pytest.mark.parametrize(
    "args", [("--error-type", "SourceError"), ("--include-unknown",), ("--only-failed", "--force")]
)
def test_options_that_make_no_sense_together_are_refused_before_anything_runs(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    catalog = make_catalog(tmp_path, rows=1, prompts=["blur"])
    config = str(write_config(tmp_path, local_config(catalog, tmp_path / "out")))
    result = invoke("run", config, *args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings.model_validate({"picsart": {"async_seconds": 0.05}})) as server:
        yield server


def test_unknown_jobs_are_resent_only_with_include_unknown_and_a_warning(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    base = sandbox.base_url
    httpx.post(f"{base}/_sandbox/reset").raise_for_status()
    malformed = {"seed": 3, "on_reads": False, "providers": {"picsart": {"malformed": 1.0}}}
    httpx.put(f"{base}/_sandbox/faults", json=malformed).raise_for_status()
    sync = {"mode": "sync", "timeout": 2}
    config = str(sandbox_config(tmp_path, base, rows=2, variants=("edit",), providers={"picsart.edit": sync}))
    assert invoke("run", config, "--yes").exit_code == 1
    assert set(results(tmp_path / "out")["status"]) == {"unknown"}
    billed = len(ledger(sandbox))
    httpx.put(f"{base}/_sandbox/faults", json={"providers": {}}).raise_for_status()

    held = invoke("run", config, "--only-failed", "--yes")
    assert held.exit_code == 1 and len(ledger(sandbox)) == billed, held.output  # held: nothing sent

    resent = invoke("run", config, "--only-failed", "--include-unknown", "--yes")
    assert resent.exit_code == 0, resent.output
    assert "may pay twice" in " ".join(resent.output.split())
    assert "2 retried" in resent.output and len(ledger(sandbox)) == billed + 2  # the operator's call: paid again
    assert latest(tmp_path / "out") and set(latest(tmp_path / "out").values()) == {"succeeded"}
