"""Read what a user starts from: a Parquet, CSV or JSONL table, or a prompts file, from any fsspec URL."""

from __future__ import annotations

import io
from typing import Any

import fsspec
import polars as pl
import pyarrow.parquet as pq

from tasks.core.errors import CatalogError

__all__ = ["TABLE_SUFFIXES", "is_table", "read_sample", "read_table"]

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv")
_JSONL = (".jsonl", ".ndjson")
TABLE_SUFFIXES = _PARQUET + _CSV + _JSONL
_SAMPLE_ROWS = 1000


def is_table(uri: str) -> bool:
    """Whether `uri` names a table file retouch can start from (by its suffix)."""
    return uri.lower().endswith(TABLE_SUFFIXES)


def read_table(uri: str, storage_options: dict[str, Any] | None = None) -> pl.DataFrame:
    """The whole table (CSV and JSONL catalogs are read whole, to be written as Parquet).

    Raises:
        CatalogError: the file is missing or does not parse; the message names it.
    """
    data = _read_bytes(uri, storage_options or {})
    lowered = uri.lower()
    try:
        if lowered.endswith(_PARQUET):
            return pl.read_parquet(io.BytesIO(data))
        if lowered.endswith(_CSV):
            separator = "\t" if lowered.endswith(".tsv") else ","
            return pl.read_csv(io.BytesIO(data), separator=separator, infer_schema_length=10_000)
        return pl.read_ndjson(io.BytesIO(data), infer_schema_length=10_000)
    except Exception as error:  # polars raises many types for malformed input
        raise CatalogError(f"cannot read {uri} as a table: {error}", column="catalog.uri") from None


def read_sample(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[pl.DataFrame, int]:
    """The first rows of a table (enough to guess its columns) and its row count.

    Parquet is read a batch at a time, so a catalog of any size costs one batch.

    Raises:
        CatalogError: the file is missing or does not parse.
    """
    if not uri.lower().endswith(_PARQUET):
        table = read_table(uri, storage_options)
        return table.head(_SAMPLE_ROWS), table.height
    try:
        with fsspec.open(uri, "rb", **(storage_options or {})) as handle:
            parquet = pq.ParquetFile(handle)
            rows = parquet.metadata.num_rows
            batch = next(parquet.iter_batches(batch_size=_SAMPLE_ROWS), None)
            frame = pl.from_arrow(batch) if batch is not None else pl.from_arrow(parquet.schema_arrow.empty_table())
    except FileNotFoundError:
        raise CatalogError(f"{uri} does not exist", column="catalog.uri") from None
    except Exception as error:  # pyarrow and fsspec raise many types for unreadable input
        raise CatalogError(f"cannot read {uri} as Parquet: {error}", column="catalog.uri") from None
    assert isinstance(frame, pl.DataFrame)
    return frame, rows


def _read_bytes(uri: str, storage_options: dict[str, Any]) -> bytes:
    try:
        with fsspec.open(uri, "rb", **storage_options) as handle:
            return bytes(handle.read())
    except FileNotFoundError:
        raise CatalogError(f"{uri} does not exist", column="catalog.uri") from None
    except (OSError, ValueError) as error:
        raise CatalogError(f"cannot read {uri}: {error}", column="catalog.uri") from None
