"""Export rules: safe names, splits, what rows are taken, fsspec on both ends, skips, and refusing to mix exports."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import fsspec
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.edit_catalog import edit_catalog
from tasks.core.config import load_config
from tasks.core.errors import ConfigError
from tasks.exports import ExportOptions, export_results, parse_splits, sample_key, source_name, split_of
from tasks.storage.fs import Storage
from tests.exports.conftest import Run
from tests.helpers import local_config, make_catalog, write_config


@given(
    st.text(),
    st.text(min_size=1),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    st.one_of(st.none(), st.integers(0, 9)),
)
def test_sample_keys_are_safe_file_names(row_id: str, variant: str, seed: int | None, index: int | None) -> None:
    key = sample_key(row_id, variant, seed, index)
    assert key.replace("-", "").replace("_", "").isalnum() and key.isascii()
    assert len(key) <= 48 * 2 + 30 and "." not in key and "/" not in key
    assert source_name(row_id).replace("-", "").replace("_", "").isalnum()


def test_sample_keys_are_readable_and_unique_where_sanitising_collides() -> None:
    assert sample_key("SKU-1014", "mono", 1, 0).startswith("SKU-1014_mono_s1_0_")
    assert sample_key("a/b", "v", 1, 0) != sample_key("a b", "v", 1, 0)  # both read "a-b"
    assert sample_key("x" * 500, "v", 1, 0) != sample_key("x" * 499, "v", 1, 0)
    assert sample_key("..", "v", None, None).startswith("row_v_sx_x_")


def test_split_parsing_and_assignment() -> None:
    splits = parse_splits("train=0.8, test=0.2")
    assert [split.name for split in splits] == ["train", "test"]
    shares = [split_of(f"row-{i}", 0, splits) for i in range(10_000)]
    assert 0.77 < shares.count(0) / len(shares) < 0.83
    assert shares == [split_of(f"row-{i}", 0, splits) for i in range(10_000)]
    assert shares != [split_of(f"row-{i}", 1, splits) for i in range(10_000)]
    for bad in ("train=0.9,test=0.2", "train", "train=x", "a b=1", "train=0.5,train=0.5"):
        with pytest.raises(ConfigError, match="--split"):
            parse_splits(bad)


def test_memory_to_memory_and_refusing_to_mix_exports(run: Run) -> None:
    memory = fsspec.filesystem("memory")
    memory.put(str(run.output), "/export-test/out", recursive=True)  # the output copied to another store
    config = load_config(run.config)
    output, dest = Storage("memory://export-test/out"), Storage("memory://export-test/exp")
    summary = export_results(output, dest, config, ExportOptions(format="parquet", shard_size=10))
    assert summary.rows == run.results.height and summary.skipped == 0
    assert summary.files == ["data/train-00000.parquet", "data/train-00001.parquet", "data/train-00002.parquet"]
    table = pl.concat(pl.read_parquet(io.BytesIO(memory.cat(f"/export-test/exp/{name}"))) for name in summary.files)
    assert sorted(table["sha256"]) == sorted(run.results["sha256"])
    assert json.loads(memory.cat("/export-test/exp/export.json"))["rows"] == run.results.height
    with pytest.raises(ConfigError, match="already holds an export"):
        export_results(output, dest, config, ExportOptions(format="parquet"))
    with pytest.raises(ConfigError, match="no such variant"):
        export_results(output, dest, config, ExportOptions(format="hf", variants=("nope",), overwrite=True))
    assert memory.exists("/export-test/exp/data/train-00002.parquet")  # a refused export removed nothing
    again = export_results(output, dest, config, ExportOptions(format="parquet", overwrite=True))
    assert again.files == ["data/train-00000.parquet"] and memory.ls("/export-test/exp/data", detail=False) == [
        "/export-test/exp/data/train-00000.parquet"
    ]
    memory.rm("/export-test", recursive=True)


@pytest.mark.usefixtures("prefect_harness")
def test_unreadable_rows_are_skipped_and_reruns_export_once(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=3, prompts=["blur", "make it pop", "sepia"])
    config_path = write_config(tmp_path, local_config(catalog, tmp_path / "out", [{"name": "v", "provider": "local"}]))
    edit_catalog(str(config_path))
    edit_catalog(str(config_path), force=True)  # every succeeded job now has two rows; one image each
    (tmp_path / "images" / "item-2.png").unlink()  # a source gone since the run
    config = load_config(config_path)
    output = Storage(str(tmp_path / "out"))
    summary = export_results(output, Storage(str(tmp_path / "exp")), config, ExportOptions(format="parquet"))
    table = pl.read_parquet(tmp_path / "exp" / "data" / "*.parquet")
    assert table["row_id"].to_list() == ["S0"] and summary.rows == 1
    assert summary.skipped == 1 and "item-2.png does not exist" in summary.skipped_examples[0].reason
    failed = export_results(
        output, Storage(str(tmp_path / "failed")), config, ExportOptions(format="hf", statuses=("failed",))
    )
    frame = pl.read_parquet(tmp_path / "failed" / "data" / "*.parquet")
    assert failed.rows == 1 and frame["row_id"].to_list() == ["S1"] and frame["edited_image"].to_list() == [None]


@pytest.mark.usefixtures("prefect_harness")
def test_inline_catalog_sources_are_read_from_the_catalog(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2, prompts=["invert"])
    frame = pl.read_parquet(catalog)
    images = [(tmp_path / name).read_bytes() for name in frame["src"]]
    frame.with_columns(pl.Series("src", images, dtype=pl.Binary)).write_parquet(catalog)
    shutil.rmtree(tmp_path / "images")  # the catalog holds the only copy
    config_path = write_config(tmp_path, local_config(catalog, tmp_path / "out", [{"name": "v", "provider": "local"}]))
    edit_catalog(str(config_path))
    summary = export_results(
        Storage(str(tmp_path / "out")),
        Storage(str(tmp_path / "exp")),
        load_config(config_path),
        ExportOptions("parquet"),
    )
    table = pl.read_parquet(tmp_path / "exp" / "data" / "*.parquet").sort("row_id")
    assert summary.rows == 2 and table["source"].str.starts_with("<bytes ").all()
    assert table["source_sha256"].to_list() == [hashlib.sha256(data).hexdigest() for data in images]


@pytest.mark.parametrize("root", ["local", "memory://open-write-test"])
def test_a_shard_that_fails_midway_leaves_nothing(root: str, tmp_path: Path) -> None:
    storage = Storage(str(tmp_path) if root == "local" else root)
    with storage.open_write("data/whole.bin") as handle:
        handle.write(b"x" * 10)
    with pytest.raises(RuntimeError), storage.open_write("data/half.bin") as handle:
        handle.write(b"half")
        raise RuntimeError("the export stopped here")
    assert storage.list("data") == ["data/whole.bin"] and not storage.fs.glob(storage.path("data/.*"))
    assert storage.read_bytes("data/whole.bin") == b"x" * 10
