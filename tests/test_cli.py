"""The command line as a user meets it: exit codes, messages, the summary, `show`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.helpers import local_config, make_catalog, write_config

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that rich does not wrap paths


def test_validate_counts_jobs_and_edits_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, local_config(make_catalog(tmp_path, rows=3), tmp_path / "out"))
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert "3 rows" in result.output and "jobs: 9" in result.output
    assert not (tmp_path / "out").exists()


def test_invalid_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    raw = local_config(make_catalog(tmp_path, rows=1), tmp_path / "out")
    raw["output"]["fromat"] = "png"
    result = runner.invoke(app, ["run", str(write_config(tmp_path, raw))])
    assert result.exit_code == 2
    assert "output.fromat: unknown key" in result.output


def test_missing_catalog_column_exits_2(tmp_path: Path) -> None:
    raw = local_config(make_catalog(tmp_path, rows=1), tmp_path / "out")
    raw["catalog"]["columns"]["image"] = "picture"
    result = runner.invoke(app, ["validate", str(write_config(tmp_path, raw))])
    assert result.exit_code == 2 and "no column 'picture'" in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_run_prints_a_summary_then_show_reads_the_table(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2, prompts=["blur", "make it pop"])
    config = write_config(tmp_path, local_config(catalog, tmp_path / "out"))
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 1, result.output  # the run went on past the failed rows, and says they failed
    assert "succeeded" in result.output and "2 job(s) failed" in result.output  # two seeds of the bad row
    again = runner.invoke(app, ["run", str(config)])
    assert again.exit_code == 1 and "Nothing to do" not in again.output  # the failed job is retried
    shown = runner.invoke(app, ["show", str(tmp_path / "out")])
    assert shown.exit_code == 0
    assert "as_written" in shown.output and "InstructionError" in shown.output
