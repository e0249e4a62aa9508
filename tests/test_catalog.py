"""Catalog reading: any fsspec URL, column mapping, batches, and row errors that name the rows."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import fsspec
import polars as pl
import pytest

from tasks.core.config import CatalogConfig
from tasks.core.errors import CatalogError
from tasks.pipeline.catalog import iter_catalog
from tests.helpers import make_catalog, make_png

MAPPING = {"id": "sku", "image": "src", "prompt": "instruction"}


def rows_of(config: CatalogConfig, **kwargs: object) -> list:
    return [row for batch in iter_catalog(config, **kwargs) for row in batch]


def test_mapping_resolves_relative_paths_and_keeps_extras(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=3, prompts=["blur", "sepia"])
    rows = rows_of(CatalogConfig(uri=str(catalog), columns=MAPPING))
    assert [row.id for row in rows] == ["S0", "S1", "S2"]
    assert [row.prompt for row in rows] == ["blur", "sepia", "blur"]
    assert rows[0].image.kind == "path" and Path(rows[0].image.value) == tmp_path / "images" / "item-0.png"
    assert rows[0].extras == {"title": "item 0"}


def test_file_url_directory_glob_filter_limit_and_batches(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=6, category=["a", "b", "a", "b", "a", "b"])
    by_url = rows_of(CatalogConfig(uri=f"file://{catalog}", columns=MAPPING, filter="category = 'a'"))
    assert [row.id for row in by_url] == ["S0", "S2", "S4"]
    limited = rows_of(CatalogConfig(uri=str(catalog), columns=MAPPING, limit=4), batch_size=3)
    assert [row.id for row in limited] == ["S0", "S1", "S2", "S3"]
    assert len(rows_of(CatalogConfig(uri=str(catalog), columns=MAPPING), limit=2)) == 2
    globbed = rows_of(CatalogConfig(uri=str(tmp_path / "*.parquet"), columns=MAPPING))
    assert len(globbed) == 6


def test_memory_catalog_with_binary_and_data_uri_images() -> None:
    png = make_png()
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "image": [png, png],
            "prompt": ["invert", "invert"],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    with fsspec.open("memory://catalogs/binary.parquet", "wb") as handle:
        handle.write(buffer.getvalue())
    rows = rows_of(CatalogConfig(uri="memory://catalogs/binary.parquet"))
    assert [row.id for row in rows] == ["1", "2"]
    assert rows[0].image.kind == "bytes" and rows[0].image.data == png
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    pl.DataFrame({"id": ["x"], "image": [uri], "prompt": ["blur"]}).write_parquet(buffer := io.BytesIO())
    with fsspec.open("memory://catalogs/data.parquet", "wb") as handle:
        handle.write(buffer.getvalue())
    (row,) = rows_of(CatalogConfig(uri="memory://catalogs/data.parquet"))
    assert row.image.kind == "data" and row.image.identity.startswith("sha256:")


def test_missing_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=1)
    with pytest.raises(CatalogError) as caught:
        rows_of(CatalogConfig(uri=str(catalog), columns={**MAPPING, "prompt": "caption"}))
    message = str(caught.value)
    assert "'caption' (for prompt, catalog.columns.prompt)" in message and "sku, src, instruction, title" in message


@pytest.mark.parametrize(
    ("ids", "prompts", "words"),
    [
        (["a", "b", "a", "b", "c"], ["p"] * 5, "2 row(s) with duplicate id in column 'sku': a, b"),
        (["a", None, "c", None, "e"], ["p"] * 5, "2 row(s) with null id in column 'sku'"),
        (
            ["a", "b", "c", "d", "e"],
            ["p", "", None, "  ", "p"],
            "3 row(s) with null or empty prompt in column 'instruction': b, c, d",
        ),
    ],
)
def test_bad_rows_are_named_with_a_count(tmp_path: Path, ids: list, prompts: list, words: str) -> None:
    pl.DataFrame({"sku": ids, "src": ["x.png"] * 5, "instruction": prompts}).write_parquet(tmp_path / "c.parquet")
    with pytest.raises(CatalogError) as caught:
        rows_of(CatalogConfig(uri=str(tmp_path / "c.parquet"), columns=MAPPING))
    assert words in str(caught.value)


def test_duplicates_across_batches_are_caught(tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(10)] + ["r3"]
    pl.DataFrame({"sku": ids, "src": ["x"] * 11, "instruction": ["p"] * 11}).write_parquet(tmp_path / "c.parquet")
    with pytest.raises(CatalogError, match="duplicate id in column 'sku': r3"):
        rows_of(CatalogConfig(uri=str(tmp_path / "c.parquet"), columns=MAPPING), batch_size=4)


def test_missing_or_unreadable_catalog_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        rows_of(CatalogConfig(uri=str(tmp_path / "nope.parquet")))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(CatalogError, match="cannot read catalog"):
        rows_of(CatalogConfig(uri=str(tmp_path / "junk.parquet")))
    catalog = make_catalog(tmp_path, rows=2)
    with pytest.raises(CatalogError, match=r"catalog\.filter"):
        rows_of(CatalogConfig(uri=str(catalog), columns=MAPPING, filter="nonexistent_column = 1"))
