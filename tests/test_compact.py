"""`retouch compact`: fewer parts, one succeeded row per job, the same bill, and no row seen twice meanwhile."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.edit_catalog import edit_catalog
from tasks.costs.ledger import read_ledger
from tasks.pipeline.tables import OUTPUT_TABLES
from tasks.sandbox import SandboxServer, SandboxSettings
from tasks.storage.compact import compact_output
from tasks.storage.fs import Storage
from tasks.storage.layout import LEASE_PATH
from tasks.storage.results import RESULT_KEY, RESULT_SCHEMA, read_results
from tests.helpers import local_config, make_catalog, write_config

runner = CliRunner(env={"COLUMNS": "200"})
ROWS = 6


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[Path]:
    """An output of two billed runs against the sandbox (the second forced), each leaving several parts."""
    directory = tmp_path_factory.mktemp("history")
    with SandboxServer(SandboxSettings.model_validate({"pixapi": {"async_seconds": 0.05}})) as sandbox:
        edits = [{"name": "v", "provider": "pixapi.edits", "model": "gemini-2.5-flash-image", "seeds": [1]}]
        provider = {
            "base_url": f"{sandbox.base_url}/pixapi",
            "api_key": "${RETOUCH_TEST_SANDBOX_KEY:-sandbox-key}",
            "poll_interval": 0.05,
        }
        raw = local_config(
            make_catalog(directory, rows=ROWS),
            directory / "out",
            edits,
            providers={"pixapi.edits": provider},
            execution={"shard_size": 2, "checkpoint_rows": 1, "parallel_shards": 1},
        )
        config = str(write_config(directory, raw))
        assert edit_catalog(config).counts == {"succeeded": ROWS}
        assert edit_catalog(config, force=True).counts == {"succeeded": ROWS}
    yield directory / "out"


@pytest.fixture
def output(history: Path, tmp_path: Path) -> Path:
    """A copy of the two-run output this test may change."""
    return Path(shutil.copytree(history, tmp_path / "out"))


def parts(output: Path, folder: str) -> list[Path]:
    return sorted((output / folder).glob("*.parquet"))


def bill(output: Path) -> tuple[set[str], float, float]:
    ledger = read_ledger(Storage(str(output)))
    return set(ledger["ledger_id"]), ledger["credits"].sum(), ledger["money"].sum()


def test_compact_merges_parts_keeps_one_succeeded_row_per_job_and_the_bill(output: Path) -> None:
    before = bill(output)
    assert len(before[0]) == 2 * ROWS and before[1] > 0
    assert len(parts(output, "results")) >= 4 and len(parts(output, "costs")) >= 4
    assert read_results(Storage(str(output))).filter(pl.col("status") == "succeeded").height == 2 * ROWS

    result = runner.invoke(app, ["compact", str(output)])

    assert result.exit_code == 0, result.output
    assert "results/:" in result.output and "→ 1," in result.output
    assert len(parts(output, "results")) == 1 and len(parts(output, "costs")) == 1
    table = pl.read_parquet(output / "results" / "*.parquet")
    per_job = table.filter(pl.col("status") == "succeeded").group_by("job_key").len()
    assert per_job.height == ROWS and set(per_job["len"]) == {1}
    latest_run = max(table["run_id"])
    assert set(table["run_id"]) == {latest_run}  # the forced run's rows describe the images on disk
    assert bill(output) == before
    total = duckdb.sql(f"select sum(credits) from read_parquet('{output}/costs/*.parquet')").fetchall()
    assert total == [(before[1],)]
    again = runner.invoke(app, ["compact", str(output)])
    assert again.exit_code == 0 and "1 parts → 1" in again.output


class CrashingStorage(Storage):
    """Real storage that dies (as a killed process would) after `deletes` deletions."""

    def __init__(self, uri: str, deletes: int) -> None:
        super().__init__(uri)
        self.deletes = deletes

    def delete(self, relative: str) -> None:
        if self.deletes == 0:
            raise OSError("killed")
        self.deletes -= 1
        super().delete(relative)


@pytest.mark.parametrize(("folder", "deleted"), [("results", 0), ("results", 3), ("costs", 0), ("costs", 2)])
def test_an_interrupted_compaction_shows_every_row_once(output: Path, folder: str, deleted: int) -> None:
    storage = Storage(str(output))
    rows = read_results(storage).select(RESULT_KEY).sort(RESULT_KEY)
    before = bill(output)
    # Results are compacted first: to crash inside the ledger's compaction, let every results delete pass.
    deletes = deleted if folder == "results" else len(parts(output, "results")) + deleted
    with pytest.raises(OSError, match="killed"):
        compact_output(CrashingStorage(str(output), deletes), OUTPUT_TABLES)
    on_disk = pl.read_parquet(output / folder / "*.parquet").height
    assert on_disk > (rows.height if folder == "results" else len(before[0]))  # copies in old and merged parts
    seen = read_results(storage).select(RESULT_KEY)
    kept = rows.filter(pl.col("run_id") == rows["run_id"].max())  # the forced run's rows: what compaction keeps
    assert seen.join(rows, on=RESULT_KEY, how="anti").is_empty()  # nothing made up, nothing twice
    assert kept.join(seen, on=RESULT_KEY, how="anti").is_empty()  # nothing kept is lost
    assert bill(output) == before  # every billed request once

    compact_output(storage, OUTPUT_TABLES)

    assert len(parts(output, "results")) == 1 and len(parts(output, "costs")) == 1
    assert read_results(storage).select(RESULT_KEY).sort(RESULT_KEY).equals(kept.sort(RESULT_KEY))
    assert pl.read_parquet(output / "results" / "*.parquet").height == ROWS
    assert pl.read_parquet(output / "costs" / "*.parquet").height == len(before[0])
    assert bill(output) == before


def test_compact_refuses_while_a_run_holds_the_output(output: Path) -> None:
    (output / LEASE_PATH).write_text('{"holder": "a run"}')
    held = parts(output, "results")
    result = runner.invoke(app, ["compact", str(output)])
    assert result.exit_code == 2
    assert "a run holds this output" in result.output and LEASE_PATH in result.output
    assert parts(output, "results") == held


def test_compact_repairs_an_output_older_retouch_wrote(output: Path) -> None:
    storage = Storage(str(output))
    rows = read_results(storage).select([*RESULT_SCHEMA, "title"]).filter(pl.col("run_id") == pl.col("run_id").max())
    ledger = read_ledger(storage).drop("ledger_id")
    for path in [*parts(output, "results"), *parts(output, "costs")]:
        path.unlink()
    # As retouch wrote parts before: types inferred per part (an all-null column is Null), no ledger ids.
    rows.head(3).with_columns(pl.lit(None).alias("note")).write_parquet(output / "results" / "part-old-1.parquet")
    rows.tail(-3).with_columns(pl.lit("set").alias("note")).write_parquet(output / "results" / "part-old-2.parquet")
    ledger.head(5).write_parquet(output / "costs" / "part-old-1.parquet")
    ledger.tail(-5).write_parquet(output / "costs" / "part-old-2.parquet")
    with pytest.raises(pl.exceptions.SchemaError):
        pl.read_parquet(output / "results" / "*.parquet")

    compact_output(storage, OUTPUT_TABLES)

    table = pl.read_parquet(output / "results" / "*.parquet")
    assert table.schema["note"] == pl.String and table["note"].null_count() == 3
    assert read_ledger(storage).height == ledger.height == 2 * ROWS
    assert read_ledger(storage)["credits"].sum() == ledger["credits"].sum()
