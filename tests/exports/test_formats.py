"""Each export format, loaded with the library its users load it with: images decode and pair with their sources."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from PIL import Image

from tasks.core.config import load_config
from tasks.exports import ExportOptions, export_results, parse_splits
from tasks.pipeline.export_runs import runs_info
from tasks.storage.fs import Storage
from tests.exports.conftest import Run

SUCCEEDED_ROWS = 6 * 2 + 6 * 2  # rows × seeds (as_written) + rows × count (mono)


def export(run: Run, dest: Path, fmt: str, **options: object) -> None:
    config, output = load_config(run.config), Storage(str(run.output))
    export_results(output, Storage(str(dest)), config, ExportOptions(format=fmt, **options), runs=runs_info(output))  # type: ignore[arg-type]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_hf_export_loads_with_datasets_and_pairs_images(run: Run, tmp_path: Path) -> None:
    import datasets

    dest = tmp_path / "hf"
    export(run, dest, "hf", splits=parse_splits("train=0.5,test=0.5"), seed=3, shard_size=5)
    files = {split: sorted(str(p) for p in (dest / "data").glob(f"{split}-*.parquet")) for split in ("train", "test")}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert loaded["train"].num_rows + loaded["test"].num_rows == SUCCEEDED_ROWS
    assert isinstance(loaded["train"].features["original_image"], datasets.Image)
    assert isinstance(loaded["train"].features["edited_image"], datasets.Image)
    results = {(r["job_key"], r["output_index"]): r for r in run.results.iter_rows(named=True)}
    for split in ("train", "test"):
        for row in loaded[split]:
            result = results[(row["job_key"], row["output_index"])]
            assert row["edited_image"].size == (result["width"], result["height"])
            assert row["edited_image"].format.lower() == result["format"]
            assert (
                pixels(row["original_image"]).shape[:2]
                == pixels(Image.open(io.BytesIO(run.source_bytes(row["row_id"])))).shape[:2]
            )
            assert (row["edit_prompt"], row["provider"], row["title"]) == (result["prompt"], "local", result["title"])
    raw = pl.read_parquet(dest / "data" / "*.parquet")
    for row in raw.iter_rows(named=True):
        assert sha(row["original_image"]["bytes"]) == sha(run.source_bytes(row["row_id"]))
        assert sha(row["edited_image"]["bytes"]) == results[(row["job_key"], row["output_index"])]["sha256"]
        assert "/" not in row["edited_image"]["path"] and ".." not in row["edited_image"]["path"]


def test_hf_splits_keep_every_variant_of_a_row_together(run: Run, tmp_path: Path) -> None:
    import datasets

    dest = tmp_path / "hf"
    export(run, dest, "hf", splits=parse_splits("train=0.5,test=0.5"), seed=3)
    loaded = datasets.load_dataset(str(dest), cache_dir=str(tmp_path / "cache"))  # the folder, through its card
    train, test = set(loaded["train"]["row_id"]), set(loaded["test"]["row_id"])
    assert train and test and not train & test
    assert train | test == set(run.results["row_id"])
    again = tmp_path / "again"
    export(run, again, "hf", splits=parse_splits("train=0.5,test=0.5"), seed=3)
    assert set(pl.read_parquet(again / "data" / "train-*.parquet")["row_id"]) == train  # seeded: reproducible


def test_dataset_card_describes_the_export(run: Run, tmp_path: Path) -> None:
    export(run, tmp_path / "hf", "hf", splits=parse_splits("train=0.75,test=0.25"))
    text = (tmp_path / "hf" / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    card = yaml.safe_load(front)
    assert card["configs"][0]["config_name"] == "default"
    assert {entry["split"] for entry in card["configs"][0]["data_files"]} == {"train", "test"}
    features = {item["name"]: item for item in card["dataset_info"]["features"]}
    assert features["original_image"]["dtype"] == "image" and features["edited_image"]["dtype"] == "image"
    assert features["seed"]["dtype"] == "int64" and features["title"]["dtype"] == "string"
    splits = {item["name"]: item["num_examples"] for item in card["dataset_info"]["splits"]}
    assert sum(splits.values()) == SUCCEEDED_ROWS
    assert "| local | 24 |" in body and "mono" in body and "as_written" in body and "cost (USD)" in body
    assert "provider: local" in body  # the config, as run


def test_webdataset_export_reads_back_with_webdataset(run: Run, tmp_path: Path) -> None:
    import webdataset as wds

    dest = tmp_path / "wds"
    export(run, dest, "webdataset", shard_size=7)
    shards = sorted(str(p) for p in (dest / "data").glob("*.tar"))
    assert len(shards) == -(-SUCCEEDED_ROWS // 7)
    samples = list(wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode("pil"))
    assert len(samples) == SUCCEEDED_ROWS
    results = {(r["job_key"], r["output_index"]): r for r in run.results.iter_rows(named=True)}
    for sample in samples:
        meta = sample["json"]
        result = results[(meta["job_key"], meta["output_index"])]
        assert sample["__key__"] == meta["key"]
        assert sample["edit.png"].size == (result["width"], result["height"])
        source = Image.open(io.BytesIO(run.source_bytes(meta["row_id"])))
        assert (pixels(sample["src.png"]) == pixels(source)).all()  # PNG kept as is, JPEG re-encoded losslessly
        assert meta["source_sha256"] == sha(run.source_bytes(meta["row_id"]))
        assert meta["edited_sha256"] == result["sha256"] and meta["title"] == result["title"]
    with tarfile.open(shards[0]) as tar:
        names = tar.getnames()
    assert all("/" not in name and ".." not in name and name.count(".") in (1, 2) for name in names)


def test_parquet_export_reads_with_polars(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "table"
    export(run, dest, "parquet", variants=("mono",))
    table = pl.read_parquet(dest / "data" / "*.parquet")
    assert table.height == 6 * 2 and set(table["variant"]) == {"mono"}
    assert table.schema["started_at"] == pl.Datetime("us", "UTC") and table.schema["seed"] == pl.Int64
    for row in table.iter_rows(named=True):
        assert sha(row["edited_image"]) == row["sha256"]
        assert sha(row["source_image"]) == row["source_sha256"] == sha(run.source_bytes(row["row_id"]))
        assert Image.open(io.BytesIO(row["edited_image"])).format == "JPEG"
    assert len(table["key"].unique()) == table.height
