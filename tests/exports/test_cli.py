"""`retouch export` as a user types it: from the config, or from the output URI with --config."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tests.exports.conftest import Run

runner = CliRunner(env={"COLUMNS": "200"})


def test_export_from_the_config_and_from_the_output(run: Run, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", str(run.config), "--to", str(tmp_path / "a"), "--format", "parquet", "--variant", "mono"]
    )
    assert result.exit_code == 0, result.output
    assert "split train" in result.output and "12 rows" in result.output
    assert pl.read_parquet(tmp_path / "a" / "data" / "*.parquet").height == 12
    bare = runner.invoke(app, ["export", str(run.output), "--to", str(tmp_path / "b")])
    assert bare.exit_code == 2 and "--config" in bare.output and not (tmp_path / "b").exists()
    given = [
        "export",
        str(run.output),
        "--config",
        str(run.config),
        "--to",
        str(tmp_path / "b"),
        "--split",
        "x=0.5,y=0.5",
    ]
    result = runner.invoke(app, [*given, "--shard-size", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "README.md").exists() and len(list((tmp_path / "b" / "data").glob("*.parquet"))) >= 6
    again = runner.invoke(app, given)
    assert again.exit_code == 2 and "--overwrite" in again.output
    wrong = runner.invoke(app, [*given, "--overwrite", "--split", "train=2"])
    assert wrong.exit_code == 2 and "--split" in wrong.output


def test_a_config_other_than_the_runs_is_named(run: Run, tmp_path: Path) -> None:
    other = yaml.safe_load(run.config.read_text())
    other["execution"] = {"shard_size": 3}  # another config hash, the same catalog
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    result = runner.invoke(app, ["export", str(run.output), "--config", str(path), "--to", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "another config" in result.output
