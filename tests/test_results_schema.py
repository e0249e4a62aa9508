"""One declared schema per table: a real multi-part run read back, as it is, by every common Parquet reader."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import Result
from typer.testing import CliRunner

from flows.cli import app
from flows.edit_catalog import edit_catalog
from tasks.core.errors import CatalogError
from tasks.costs.ledger import LEDGER_ARROW_SCHEMA
from tasks.pipeline.manifest import RunSummary
from tasks.storage.columns import widen
from tasks.storage.fs import Storage
from tasks.storage.results import RESULT_ARROW_SCHEMA, read_results
from tests.helpers import local_config, make_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROWS = 8
# Two jobs a shard and a part every row: several parts, and the first ones see only nulls in `note`.
EXECUTION = {"shard_size": 2, "checkpoint_rows": 1, "parallel_shards": 1}
EDITS = [{"name": "v", "provider": "local", "seeds": [1]}]


def catalog(directory: Path, rows: int = ROWS, **overrides: pl.Series) -> Path:
    """A catalog with a column null in its first half, a date column and an int32 column."""
    path = make_catalog(directory, rows=rows)
    frame = pl.read_parquet(path).with_columns(
        pl.Series("note", [None if i < rows // 2 else f"note {i}" for i in range(rows)], dtype=pl.String),
        pl.Series("launched", [date(2024, 1, 1 + i) for i in range(rows)]),
        pl.Series("stock", list(range(rows)), dtype=pl.Int32),
    )
    frame.with_columns(*overrides.values()).write_parquet(path)
    return path


def run(directory: Path, catalog_path: Path) -> RunSummary:
    config = local_config(catalog_path, directory / "out", EDITS, execution=EXECUTION)
    return edit_catalog(str(write_config(directory, config)))


def validate(directory: Path, catalog_path: Path) -> Result:
    config = local_config(catalog_path, directory / "out", EDITS, execution=EXECUTION)
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["validate", str(write_config(directory, config))])


def schemas(folder: Path) -> list[pa.Schema]:
    return [pq.read_schema(path).remove_metadata() for path in sorted(folder.glob("*.parquet"))]


def test_every_part_has_one_schema_with_the_catalogs_types(tmp_path: Path) -> None:
    summary = run(tmp_path, catalog(tmp_path))
    assert summary.counts == {"succeeded": ROWS}
    results = schemas(tmp_path / "out" / "results")
    assert len(results) >= 4 and all(schema.equals(results[0]) for schema in results)
    assert results[0].names[: len(RESULT_ARROW_SCHEMA)] == RESULT_ARROW_SCHEMA.names
    extras = {name: results[0].field(name).type for name in ("title", "note", "launched", "stock")}
    assert extras == {"title": pa.string(), "note": pa.string(), "launched": pa.date32(), "stock": pa.int32()}
    costs = schemas(tmp_path / "out" / "costs")
    assert len(costs) >= 4 and all(schema.equals(LEDGER_ARROW_SCHEMA) for schema in costs)


def test_polars_pyarrow_duckdb_and_datasets_read_the_output_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(tmp_path, catalog(tmp_path))
    results, costs = tmp_path / "out" / "results", tmp_path / "out" / "costs"
    frame = pl.read_parquet(results / "*.parquet")
    assert frame.height == ROWS
    assert frame.sort("row_id")["note"].to_list() == [None] * (ROWS // 2) + [f"note {i}" for i in range(4, ROWS)]
    assert frame.schema["launched"] == pl.Date and frame.schema["stock"] == pl.Int32
    assert pl.scan_parquet(results / "*.parquet").select(pl.col("stock").sum()).collect().item() == sum(range(ROWS))
    table = ds.dataset(results, format="parquet").to_table()
    assert table.num_rows == ROWS and table.schema.field("launched").type == pa.date32()
    assert pl.read_parquet(costs / "*.parquet").height == ROWS
    launched = duckdb.sql(f"select min(launched), count(note) from read_parquet('{results}/*.parquet')").fetchall()
    assert launched == [(date(2024, 1, 1), ROWS // 2)]
    assert duckdb.sql(f"select count(*) from read_parquet('{costs}/*.parquet')").fetchall() == [(ROWS,)]
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    loaded = datasets.load_dataset(
        "parquet", data_files=str(results / "*.parquet"), split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == ROWS and sorted(row for row in loaded["stock"]) == list(range(ROWS))


def test_a_widened_column_rewrites_older_parts_so_readers_still_agree(tmp_path: Path) -> None:
    run(tmp_path, catalog(tmp_path))
    wider = catalog(tmp_path, rows=ROWS + 2, stock=pl.Series("stock", range(ROWS + 2), dtype=pl.Int64))
    assert run(tmp_path, wider).counts == {"succeeded": 2}
    results = schemas(tmp_path / "out" / "results")
    assert all(schema.field("stock").type == pa.int64() for schema in results)
    assert pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")["stock"].sort().to_list() == list(
        range(ROWS + 2)
    )


def test_a_column_that_becomes_text_widens_to_string(tmp_path: Path) -> None:
    run(tmp_path, catalog(tmp_path))
    texts = pl.Series("stock", [f"{i} left" for i in range(ROWS + 1)])
    run(tmp_path, catalog(tmp_path, rows=ROWS + 1, stock=texts))
    frame = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert frame.schema["stock"] == pl.String
    assert set(frame["stock"]) == {str(i) for i in range(ROWS)} | {f"{ROWS} left"}


def test_a_type_change_no_rule_accepts_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    run(tmp_path, catalog(tmp_path))
    before = sorted(path.name for path in (tmp_path / "out").rglob("*") if path.is_file())
    as_numbers = pl.Series("launched", range(ROWS + 1), dtype=pl.Int64)
    checked = validate(tmp_path, catalog(tmp_path, rows=ROWS + 1, launched=as_numbers))
    assert (
        checked.exit_code == 2 and "'launched' is date32[day]" in checked.output and "Traceback" not in checked.output
    )
    with pytest.raises(CatalogError, match=r"'launched' is date32\[day\] in the output's table but int64"):
        run(tmp_path, catalog(tmp_path, rows=ROWS + 1, launched=as_numbers))
    assert sorted(path.name for path in (tmp_path / "out").rglob("*") if path.is_file()) == before


def test_a_catalog_column_that_is_null_everywhere_is_stored_as_string(tmp_path: Path) -> None:
    empty = pl.Series("note", [None] * ROWS, dtype=pl.Null)
    run(tmp_path, catalog(tmp_path, note=empty))
    assert {schema.field("note").type for schema in schemas(tmp_path / "out" / "results")} == {pa.string()}
    assert read_results(Storage(str(tmp_path / "out")))["note"].null_count() == ROWS


def test_a_run_brings_parts_older_retouch_wrote_into_one_schema(tmp_path: Path) -> None:
    run(tmp_path, catalog(tmp_path))
    results = tmp_path / "out" / "results"
    frame = pl.read_parquet(results / "*.parquet").with_columns(pl.col("launched").cast(pl.String))
    for path in results.glob("*.parquet"):
        path.unlink()
    # As retouch wrote parts before: types inferred per part from JSON (dates as text, all-null as Null).
    frame.head(4).with_columns(pl.lit(None).alias("note")).write_parquet(results / "part-old-1.parquet")
    frame.tail(-4).write_parquet(results / "part-old-2.parquet")
    assert run(tmp_path, catalog(tmp_path, rows=ROWS + 2)).counts == {"succeeded": 2}
    held = schemas(results)
    assert len(held) >= 3 and all(schema.equals(held[0]) for schema in held)
    table = pl.read_parquet(results / "*.parquet")
    assert table.height == ROWS + 2 and table.schema["launched"] == pl.String  # text once, text since
    assert table.filter(pl.col("row_id") == f"S{ROWS}")["launched"].to_list() == [f"2024-01-{ROWS + 1:02d}"]


@pytest.mark.parametrize(
    ("held", "incoming", "stored"),
    [
        (pa.null(), pa.date32(), pa.date32()),
        (pa.int32(), pa.int64(), pa.int64()),
        (pa.int64(), pa.int8(), pa.int64()),
        (pa.int64(), pa.float64(), pa.float64()),
        (pa.float32(), pa.float64(), pa.float64()),
        (pa.decimal128(5, 2), pa.decimal128(10, 3), pa.decimal128(10, 3)),
        (pa.timestamp("ms", "UTC"), pa.timestamp("us", "UTC"), pa.timestamp("us", "UTC")),
        (pa.date32(), pa.string(), pa.string()),
        (pa.string(), pa.bool_(), pa.string()),
        (pa.dictionary(pa.int32(), pa.string()), pa.large_string(), pa.string()),
    ],
)
def test_the_documented_widenings(held: pa.DataType, incoming: pa.DataType, stored: pa.DataType) -> None:
    assert widen("c", held, incoming) == stored


@pytest.mark.parametrize(
    ("held", "incoming"),
    [
        (pa.date32(), pa.int64()),
        (pa.timestamp("us", "UTC"), pa.timestamp("us")),
        (pa.struct([("a", pa.int64())]), pa.list_(pa.int64())),
        (pa.list_(pa.int64()), pa.string()),
    ],
)
def test_other_type_changes_name_the_column_and_both_types(held: pa.DataType, incoming: pa.DataType) -> None:
    expected = f"column 'c' is {re.escape(str(held))} in the output's table but {re.escape(str(incoming))} "
    with pytest.raises(CatalogError, match=expected) as caught:
        widen("c", held, incoming)
    assert caught.value.context["column"] == "c"
