"""Exit codes and messages a script can use, through the CLI: every expected outcome is one message and
its code, never a traceback; whatever `run` rejects before spending, `validate` rejects too, before Prefect."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from flows.cli import app
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.cli.sandbox_kit import RETOUCH, ROOT, ledger, paid_config, results, subprocess_env
from tests.helpers import local_config, make_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner(env={"COLUMNS": "200"})
FAST = {"async_seconds": 0.05}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings.model_validate({n: dict(FAST) for n in ("picsart", "pixapi", "fashn")})) as s:
        yield s


@pytest.fixture(scope="module")
def poor_sandbox() -> Iterator[SandboxServer]:
    """Picsart's key holds 3 credits; the paid config's 3 rows need 6 there (FASHN's key is rich)."""
    settings = {n: dict(FAST) for n in ("picsart", "pixapi", "fashn")}
    settings["picsart"]["keys"] = {"sandbox-key": {"credits": 3}}
    with SandboxServer(SandboxSettings.model_validate(settings)) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(sandbox: SandboxServer, poor_sandbox: SandboxServer) -> None:
    for server in (sandbox, poor_sandbox):
        httpx.post(f"{server.base_url}/_sandbox/reset").raise_for_status()


def flow_runs() -> int:
    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _missing_column(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["edits"][1]["prompt"] = "{prompt} in {colour}"


def _unwritable_output(raw: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    raw["output"]["uri"] = str(tmp_path / "a-file" / "out")


def _malformed_base_url(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["providers"]["fashn.edit"]["base_url"] = "ftp//sandbox/fashn"


def _params_out_of_range(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["edits"][0]["params"] = {"format": "GIF", "watermark_opacity": 400}
    raw["edits"][1]["params"] = {"resolution": "9k"}


REJECTED: dict[str, tuple[Callable[[dict[str, Any], Path], None], list[str]]] = {
    "a template names a missing column": (_missing_column, ["{colour}", "not a catalog column"]),
    "the output cannot be written": (_unwritable_output, ["output.uri", "is a file, not a folder"]),
    "a base URL is malformed": (_malformed_base_url, ["providers.fashn.edit.base_url", "http://"]),
    "params out of range in two variants": (_params_out_of_range, ["GIF", "watermark_opacity=400", "9k"]),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("outcome", sorted(REJECTED))
def test_what_run_rejects_validate_rejects_too_before_prefect_starts(
    outcome: str, command: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    raw = paid_config(tmp_path, sandbox)
    change, words = REJECTED[outcome]
    change(raw, tmp_path)
    started = flow_runs()
    result = invoke(command, str(write_config(tmp_path, raw)))
    assert result.exit_code == 2, result.output
    assert all(word in result.output for word in words), result.output
    assert flow_runs() == started  # rejected before Prefect ran anything
    assert ledger(sandbox) == [] and not (tmp_path / "out" / "runs").exists()


def test_every_problem_checked_before_the_catalog_is_named_in_one_message(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    raw = paid_config(tmp_path, sandbox)
    checked_first = [name for name in REJECTED if name != "a template names a missing column"]  # read with rows
    for name in checked_first:
        REJECTED[name][0](raw, tmp_path)
    raw["edits"].append({"name": "fb", "provider": "fashn.edit", "prompt": "{a} {b}"})
    raw["edits"].append({"name": "fc", "provider": "fashn.edit", "prompt": "{c}"})
    result = invoke("validate", str(write_config(tmp_path, raw)))
    assert result.exit_code == 2
    assert "3 problems stop this run before anything is sent" in result.output
    for name in checked_first:
        assert all(word in result.output for word in REJECTED[name][1]), result.output
    fixed = paid_config(tmp_path, sandbox)
    fixed["edits"] = raw["edits"]
    fixed["edits"][0]["params"], fixed["edits"][1]["params"] = {}, {}
    templates = invoke("validate", str(write_config(tmp_path, fixed)))
    assert templates.exit_code == 2 and "2 prompt templates name columns the catalog lacks" in templates.output
    assert "{a}" in templates.output and "{c}" in templates.output


def test_over_budget_exits_3_after_showing_the_forecast(sandbox: SandboxServer, tmp_path: Path) -> None:
    raw = paid_config(tmp_path, sandbox, budget={"max_credits": 1})
    config = str(write_config(tmp_path, raw))
    for command in (["run", config], ["run", config, "--dry-run"], ["validate", config], ["forecast", config]):
        result = invoke(*command)
        assert result.exit_code == 3, (command, result.output)
        assert "over budget" in result.output and "max_credits" in result.output
    for command in (["run", config], ["run", config, "--dry-run"]):
        output = invoke(*command).output
        assert output.index("Cost forecast") < output.index("over budget")  # the forecast, over budget or not
    assert ledger(sandbox) == []


def test_a_run_that_went_on_to_the_cap_and_left_jobs_unsent_exits_3(sandbox: SandboxServer, tmp_path: Path) -> None:
    raw = paid_config(tmp_path, sandbox, budget={"max_credits": 4})  # the forecast is 6 credits
    result = invoke("run", str(write_config(tmp_path, raw)), "--proceed-to-cap")
    assert result.exit_code == 3, result.output
    skipped = results(tmp_path / "out").filter(status="skipped")
    assert skipped.height > 0 and 0 < sum(entry["credits"] for entry in ledger(sandbox)) <= 4


@pytest.mark.parametrize("fault", ["wrong key", "provider down"])
def test_a_run_where_every_job_failed_exits_1(fault: str, sandbox: SandboxServer, tmp_path: Path) -> None:
    raw = paid_config(tmp_path, sandbox)
    for settings in raw["providers"].values():
        if fault == "wrong key":
            settings["api_key"] = "${RETOUCH_TEST_KEY:-not-the-key}"
        else:
            settings["base_url"] = settings["base_url"].replace(str(sandbox.port), "9")  # nothing listens on 9
    result = invoke("run", str(write_config(tmp_path, raw)))
    assert result.exit_code == 1, result.output
    statuses = results(tmp_path / "out")["status"]
    assert "succeeded" not in set(statuses) and len(statuses) == 6, result.output  # every job ended as a row
    assert "lane stopped" in result.output.lower() or "failed" in result.output, result.output


def test_all_succeeded_exits_0_and_so_does_nothing_to_do(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = str(write_config(tmp_path, paid_config(tmp_path, sandbox)))
    first = invoke("run", config)
    assert first.exit_code == 0, first.output
    assert "6 credits (0.06 USD)" in first.output  # the summary shows money as well as credits
    page = next(line for line in first.output.splitlines() if line.startswith("report: ")).removeprefix("report: ")
    assert page.endswith("/index.html") and Path(page).is_file()  # the run's report page, where it says
    again = invoke("run", config)
    assert again.exit_code == 0 and "Nothing to do" in again.output


def test_some_jobs_failed_exits_1(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2, prompts=["blur", "make it pop"])
    result = invoke("run", str(write_config(tmp_path, local_config(catalog, tmp_path / "out"))))
    assert result.exit_code == 1, result.output
    assert "2 job(s) failed" in result.output


def test_validate_names_the_jobs_that_would_fail_and_exits_1(tmp_path: Path) -> None:
    project = tmp_path / "project"
    make_catalog(project, rows=5, prompts=["blur", "make it pop", "sepia", "make it pop", "sepia"])
    (project / "images" / "item-2.png").unlink()
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes((project / "images" / "item-4.png").read_bytes())
    frame = pl.read_parquet(project / "catalog.parquet")
    frame.with_columns(src=pl.when(pl.col("sku") == "S4").then(pl.lit(str(outside))).otherwise("src")).write_parquet(
        project / "catalog.parquet"
    )
    config = write_config(project, local_config(project / "catalog.parquet", project / "out"))
    result = invoke("validate", str(config))
    assert result.exit_code == 1, result.output
    assert "jobs that would fail" in result.output
    assert "local cannot read the prompt: 4 job(s) (rows S1, S3)" in result.output  # 2 rows × 2 seeds
    assert "image not there: 3 job(s) (rows S2)" in result.output and "item-2.png does not exist" in result.output
    assert "image refused by catalog.sources: 3 job(s) (rows S4)" in result.output
    assert "outside the catalog's folder" in result.output  # the run's own source policy said so
    assert "5 local file(s), every one looked up" in result.output
    assert not (project / "out").exists()  # validating writes nothing


def test_verbose_shows_the_traceback_of_an_expected_outcome(sandbox: SandboxServer, tmp_path: Path) -> None:
    raw = paid_config(tmp_path, sandbox)
    _missing_column(raw, tmp_path)
    result = runner.invoke(app, ["validate", str(write_config(tmp_path, raw)), "-v"])
    assert result.exit_code == 2 and "Traceback" in result.output and "not a catalog column" in result.output


def test_report_with_no_runs_exits_2_and_names_the_runs_there_are(tmp_path: Path) -> None:
    started = flow_runs()
    result = invoke("report", str(tmp_path / "out"))
    assert result.exit_code == 2 and "no run has written there yet" in result.output
    (tmp_path / "out").mkdir()
    result = invoke("report", str(tmp_path / "out"))
    assert result.exit_code == 2 and "no runs under" in result.output
    catalog = make_catalog(tmp_path, rows=1)
    assert invoke("run", str(write_config(tmp_path, local_config(catalog, tmp_path / "out")))).exit_code == 0
    run_id = next((tmp_path / "out" / "runs").glob("*.json")).stem
    unknown = invoke("report", str(tmp_path / "out"), "--run", "20990101T000000Z-000000")
    assert unknown.exit_code == 2 and run_id in unknown.output
    assert flow_runs() == started + 1  # the run's; neither failed report started a flow


def test_a_balance_below_the_forecast_stops_the_run_with_3(poor_sandbox: SandboxServer, tmp_path: Path) -> None:
    config = str(write_config(tmp_path, paid_config(tmp_path, poor_sandbox, rows=4)))  # 4 picsart credits
    for command in ("run", "validate"):
        result = invoke(command, config)
        assert result.exit_code == 3, result.output
        assert "balance of picsart.edit: 3 credits; this run needs 4" in result.output
        assert "picsart.edit: the forecast needs 4 credits and the account has 3" in result.output
    assert ledger(poor_sandbox) == []


def test_balances_before_and_after_match_the_ledger(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = str(write_config(tmp_path, paid_config(tmp_path, sandbox, fashn_seeds=(1, 2))))
    result = invoke("run", config)
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "out" / "runs").glob("*.json")).read_text())
    billed = {
        name: sum(e["credits"] for e in ledger(sandbox) if e["provider"] == name) for name in ("picsart", "fashn")
    }
    by_account = {tuple(change["providers"]): change for change in manifest["balances"]}
    assert by_account[("picsart.edit",)]["before"] - by_account[("picsart.edit",)]["after"] == billed["picsart"] == 3
    assert by_account[("fashn.edit",)]["before"] - by_account[("fashn.edit",)]["after"] == billed["fashn"] == 6
    assert all(change["ledger_credits"] == change["before"] - change["after"] for change in manifest["balances"])
    report = invoke("report", str(tmp_path / "out"))
    assert "Provider balances" in report.output and "before − after" in report.output


def test_prefect_that_cannot_start_is_one_message_and_exit_2(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=1, prompts=["blur"])
    config = write_config(tmp_path, local_config(catalog, tmp_path / "out"))
    env = subprocess_env(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0", PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)  # the command must start its own temporary server, and cannot in 0 s
    done = subprocess.run([*RETOUCH, "run", str(config)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "temporary API server did not start" in message and "prefect server start" in message
    assert "Traceback" not in done.stderr + done.stdout and not (tmp_path / "out" / "results").exists()
