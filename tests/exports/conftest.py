"""Fixtures for the export tests: one real pipeline run on a small catalog, shared by the module's tests."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Before `datasets` is imported: it must never reach the Hub, and its cache stays in a temporary folder.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", str(Path(os.environ.get("PREFECT_HOME", "/tmp")) / "hf-home"))

import polars as pl
import pytest
from PIL import Image

from flows.edit_catalog import edit_catalog
from tests.helpers import local_config, make_catalog, write_config

# Variants the run makes: the catalog's own prompt (PNG), and a two-output JPEG variant.
EDITS = [
    {"name": "as_written", "provider": "local", "seeds": [1, 2]},
    {
        "name": "mono",
        "provider": "local",
        "prompt": "grayscale",
        "seeds": [7],
        "params": {"format": "jpeg"},
        "count": 2,
    },
]
ROWS = 6


@dataclass(frozen=True)
class Run:
    """A finished run: its catalog, config, output folder, and results table."""

    root: Path
    catalog: Path
    config: Path
    output: Path
    results: pl.DataFrame

    def source_bytes(self, row_id: str) -> bytes:
        """The bytes of a row's source image, as the catalog has it."""
        frame = pl.read_parquet(self.catalog).filter(pl.col("sku") == row_id)
        return (self.catalog.parent / frame["src"][0]).read_bytes()


@pytest.fixture(scope="module")
def run(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """ROWS catalog rows (one with a JPEG source, one with an awkward id) × EDITS, run for real."""
    root = tmp_path_factory.mktemp("export-run")
    catalog = make_catalog(root, rows=ROWS, prompts=["rotate 90", "brightness 1.5, then sharpen"])
    frame = pl.read_parquet(catalog)
    with Image.open(root / "images" / "item-1.png") as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
    (root / "images" / "item-1.jpg").write_bytes(buffer.getvalue())
    ids = frame["sku"].to_list()
    ids[2] = "../etc/pass wd\x07"  # an id no file name may copy
    frame.with_columns(
        pl.Series("sku", ids),
        pl.Series("src", ["images/item-1.jpg" if i == 1 else s for i, s in enumerate(frame["src"])]),
    ).write_parquet(catalog)
    output = root / "out"
    config = write_config(root, local_config(catalog, output, EDITS))
    edit_catalog(str(config))
    yield Run(root, catalog, config, output, pl.read_parquet(output / "results" / "*.parquet"))
