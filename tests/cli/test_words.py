"""The words a new user reads: each message the audit found misleading, as the CLI now prints it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.pipeline.progress import listen
from tasks.reports.chart import spend_chart
from tasks.reports.markdown import fmt_percent
from tests.cli.kit import assert_fits, invoke
from tests.helpers import local_config, make_catalog, write_config

ROOT = Path(__file__).parents[2]


@pytest.mark.usefixtures("prefect_harness")
def test_an_empty_catalog_says_it_has_no_rows_not_that_all_succeeded(tmp_path: Path) -> None:
    raw = local_config(make_catalog(tmp_path, rows=2), tmp_path / "out")
    raw["catalog"]["filter"] = "sku = 'none'"
    config = write_config(tmp_path, raw)

    answer = invoke("run", str(config))

    assert answer.exit_code == 0, answer.output
    assert "the catalog has no rows to edit after its filter and limit" in answer.output
    assert "already succeeded" not in answer.output


def test_an_unset_api_key_env_names_the_variable_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    raw = local_config(make_catalog(tmp_path, rows=1), tmp_path / "out")
    raw["edits"] = [{"name": "clean", "provider": "picsart.edit", "prompt": "remove the background"}]
    raw["providers"] = {"picsart.edit": {"api_key_env": "MY_KEY"}}

    answer = invoke("validate", str(write_config(tmp_path, raw)))

    assert answer.exit_code == 2
    assert "the environment variable MY_KEY" in answer.output and "export MY_KEY=" in answer.output
    assert "set api_key_env" not in answer.output


@pytest.mark.usefixtures("prefect_harness")
def test_counts_say_new_changed_retried_and_forced(failing_config: Path) -> None:
    first = invoke("run", str(failing_config))
    again = invoke("run", str(failing_config))
    forced = invoke("run", str(failing_config), "--force")

    assert "9 (9 new, 0 changed, 0 retried, 0 forced)" in first.output
    assert "2 (0 new, 0 changed, 2 retried, 0 forced)" in again.output
    assert "9 (0 new, 0 changed, 2 retried, 7 forced)" in forced.output
    assert "Run the same command again to retry them" in first.output


@pytest.mark.usefixtures("prefect_harness")
def test_a_prompt_template_may_use_the_catalogs_own_column_names(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2, prompts=["blur"])
    edits = [{"name": "own", "provider": "local", "prompt": "{instruction}, then sepia", "seeds": [1]}]
    config = write_config(tmp_path, local_config(catalog, tmp_path / "out", edits=edits))

    answer = invoke("run", str(config))

    assert answer.exit_code == 0, answer.output
    prompts = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")["prompt"].to_list()
    assert prompts == ["blur, then sepia"] * 2


@pytest.mark.usefixtures("prefect_harness")
def test_an_image_that_does_not_decode_names_the_row_and_the_file(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2, prompts=["blur"])
    (tmp_path / "images" / "item-1.png").write_bytes(b"this is not an image at all")
    config = write_config(tmp_path, local_config(catalog, tmp_path / "out"))
    invoke("run", str(config))

    shown = invoke("show", str(config), "--status", "failed")

    assert "local × SourceError: 3 job(s)" in shown.output
    message = shown.output.split("local × SourceError: 3 job(s)")[1].split("rows (first")[0]
    # Refused while loading the source (the source policy checks bytes decode before any edit or upload).
    assert "row S1" in message and "item-1.png" in message and "is not an image" in message
    assert "BytesIO" not in message and " at 0x" not in message
    assert "this is not" not in message  # never the file's bytes


@pytest.mark.usefixtures("prefect_harness")
def test_the_bar_says_planning_then_editing_and_a_dry_run_only_plans(config: Path) -> None:
    phases: dict[str, list[str]] = {"run-real": [], "run-dry": []}
    for run_id, dry_run in (("run-dry", True), ("run-real", False)):
        stop = listen(run_id, lambda status, images: None, phases[run_id].append)
        edit_catalog(str(config), run_id=run_id, dry_run=dry_run)
        stop()
    assert phases == {"run-dry": ["planning"], "run-real": ["planning", "editing"]}

    dry = invoke("run", str(config), "--dry-run")
    assert "planned (dry run)" in dry.output and "editing" not in dry.output


@pytest.mark.usefixtures("prefect_harness")
def test_paths_are_printed_whole_at_80_columns(config: Path) -> None:
    answer = invoke("run", str(config))

    assert_fits(answer.output)
    (manifest,) = (config.parent / "out" / "runs").glob("*.json")
    assert len(str(manifest)) > 60  # long enough that a table column would have cut it
    assert f"manifest: {manifest}\n" in answer.output
    assert f"results: {config.parent / 'out' / 'results'}\n" in answer.output


def test_a_percentage_that_rounds_to_zero_has_no_sign() -> None:
    assert [fmt_percent(value) for value in (-0.04, -0.0, 0.0, 0.04)] == ["0.0%"] * 4
    assert (fmt_percent(-1.26), fmt_percent(12.34), fmt_percent(None)) == ("-1.3%", "+12.3%", "—")


@pytest.mark.parametrize("seconds", [0.8, 40.0, 400.0])
def test_chart_time_ticks_read_as_clock_times(seconds: float) -> None:
    start = datetime(2026, 11, 30, 19, 57, 48, 200_000, tzinfo=UTC)
    times = [start + timedelta(seconds=seconds * step / 10) for step in range(11)]
    ledger = pl.DataFrame({"time": times, "provider": ["p"] * 11, "credits": [1.0] * 11, "money": [0.1] * 11})

    figure = spend_chart(ledger, currency="USD")
    figure.canvas.draw()
    labels = [tick.get_text() for tick in figure.axes[0].get_xticklabels()]

    assert labels and all(len(label) in (5, 8) and label[2] == ":" for label in labels), labels
    assert len(set(labels)) == len(labels)


def test_help_shows_no_bool_placeholder_and_version_prints_the_package_version() -> None:
    for command in (["run"], ["show"], ["report"], ["runs"]):
        helped = invoke(*command, "--help")
        assert helped.exit_code == 0 and "Show this message and exit." in helped.output
        assert "<bool>" not in helped.output
    commands = invoke("--help").output.split("Commands:")[1]
    assert "<bool>" not in commands and "..." not in commands and "…" not in commands  # summaries whole
    shown = invoke("--version")
    assert shown.exit_code == 0 and shown.output.strip() == f"retouch {version('retouch')}"


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0")])
def test_the_cli_turns_prefect_client_telemetry_off_unless_the_user_chose(given: str | None, expected: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DO_NOT_TRACK"}
    if given is not None:
        env["DO_NOT_TRACK"] = given
    code = "import os, flows.cli; print(os.environ['DO_NOT_TRACK'], os.environ['PREFECT_SERVER_ANALYTICS_ENABLED'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == [expected, "false"]
