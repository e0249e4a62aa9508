"""The main flow, run for real under Prefect: images + results table, resume, bad rows, refresh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.errors import CatalogError, ConfigError
from tasks.pipeline.manifest import read_manifest
from tasks.storage.fs import Storage
from tests.helpers import decode, local_config, make_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def results(output: Path) -> pl.DataFrame:
    return pl.read_parquet(output / "results" / "*.parquet")


def test_run_writes_images_and_one_row_per_output(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=3, prompts=["rotate 90", "brightness 1.5, then sharpen"])
    edits = [
        {"name": "written", "provider": "local", "seeds": [1, 2]},
        {"name": "mono", "provider": "local", "prompt": "grayscale", "seeds": [7], "count": 2},
    ]
    output = tmp_path / "out"
    summary = edit_catalog(str(write_config(tmp_path, local_config(catalog, output, edits))))
    table = results(output)
    assert table.height == 3 * 2 * 1 + 3 * 1 * 2  # rows × seeds × count, per variant
    assert summary.counts == {"succeeded": 9} and summary.images == 12
    assert set(table["status"]) == {"succeeded"} and table["error_type"].null_count() == table.height
    assert {"job_key", "row_id", "variant", "provider", "seed", "output_uri", "sha256", "latency_ms", "title"} <= set(
        table.columns
    )
    rotated = table.filter((pl.col("row_id") == "S0") & (pl.col("variant") == "written"))
    assert rotated["width"].to_list() == [32, 32] and rotated["height"].to_list() == [48, 48]  # 48×32 turned
    for row in table.filter(pl.col("variant") == "mono").iter_rows(named=True):
        pixels = np.asarray(decode(row["output_uri"]).convert("RGB")).astype(int)
        assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
        assert row["output_uri"].startswith(str(output / "images" / "mono"))
    assert summary.manifest_uri == str(output / "runs" / f"{summary.run_id}.json")
    assert read_manifest(Storage(str(output)), summary.run_id) == summary  # the manifest reads back whole


def test_second_run_skips_everything_and_force_reruns(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2)
    config = str(write_config(tmp_path, local_config(catalog, tmp_path / "out")))
    first = edit_catalog(config)
    again = edit_catalog(config)
    assert (again.planned, again.already_done, again.to_run) == (first.planned, first.planned, 0)
    assert results(tmp_path / "out").height == first.planned
    forced = edit_catalog(config, force=True)
    assert forced.to_run == first.planned and forced.counts == {"succeeded": first.planned}


def test_bad_rows_fail_alone_with_reasons(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=4, prompts=["blur"])
    frame = pl.read_parquet(catalog)
    (tmp_path / "images" / "junk.png").write_bytes(b"this is not an image")
    frame = frame.with_columns(
        pl.Series("src", ["images/item-0.png", "images/missing.png", "images/junk.png", "images/item-3.png"]),
        pl.Series("instruction", ["blur", "blur", "blur", "make it pop"]),
    )
    frame.write_parquet(catalog)
    edits = [{"name": "v", "provider": "local", "seeds": [1]}]
    summary = edit_catalog(str(write_config(tmp_path, local_config(catalog, tmp_path / "out", edits))))
    assert summary.counts == {"succeeded": 1, "failed": 3}
    failed = {
        row["row_id"]: row
        for row in results(tmp_path / "out").filter(pl.col("status") == "failed").iter_rows(named=True)
    }
    assert failed["S1"]["error_type"] == "SourceError" and "missing.png does not exist" in failed["S1"]["error_message"]
    assert failed["S2"]["error_type"] == "SourceError"
    assert failed["S3"]["error_type"] == "InstructionError"
    assert "make it pop" in failed["S3"]["error_message"] and "grayscale" in failed["S3"]["error_message"]
    assert failed["S3"]["output_uri"] is None


def test_changed_rows_are_edited_again_and_nothing_else(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=3, prompts=["blur"])
    config = str(write_config(tmp_path, local_config(catalog, tmp_path / "out")))
    edit_catalog(config)
    frame = pl.read_parquet(catalog)
    frame = pl.concat([frame, frame.head(1).with_columns(pl.lit("S9").alias("sku"))])
    frame.with_columns(
        pl.when(pl.col("sku") == "S1").then(pl.lit("sepia")).otherwise(pl.col("instruction")).alias("instruction")
    ).write_parquet(catalog)
    refresh = edit_catalog(config)
    # S1 changed its prompt: only its "as_written" jobs change (mono ignores the catalog prompt); S9 is new.
    assert refresh.to_run == 2 + 3 and refresh.already_done == 3 * 3 - 2
    assert (refresh.new, refresh.changed, refresh.removed) == (3, 2, 0)
    frame = pl.read_parquet(catalog).filter(pl.col("sku") != "S0")
    frame.write_parquet(catalog)
    shrunk = edit_catalog(config)
    assert (shrunk.to_run, shrunk.removed, shrunk.already_done) == (0, 3, 9)


def test_bad_config_and_missing_column_stop_before_any_edit(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=1)
    raw = local_config(catalog, tmp_path / "out")
    raw["edits"][0]["seeds"] = ["one"]
    with pytest.raises(ConfigError, match=r"edits\[0\]\.seeds\[0\]"):
        edit_catalog(str(write_config(tmp_path, raw)))
    raw = local_config(catalog, tmp_path / "out")
    raw["catalog"]["columns"]["prompt"] = "caption"
    with pytest.raises(CatalogError, match="no column 'caption'"):
        edit_catalog(str(write_config(tmp_path, raw)))
    assert not (tmp_path / "out").exists()


def test_dry_run_counts_and_writes_nothing(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=5)
    summary = edit_catalog(str(write_config(tmp_path, local_config(catalog, tmp_path / "out"))), dry_run=True, limit=2)
    assert (summary.planned, summary.to_run, summary.counts, summary.dry_run) == (6, 6, {}, True)
    assert not (tmp_path / "out").exists()
