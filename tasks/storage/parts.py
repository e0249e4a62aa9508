"""The one atomic Parquet-part writer and reader: every table under `output.uri` is a folder of parts.

A part is written whole or not at all (`Storage.write_bytes`: temp name then rename, or one PUT) and is
never changed afterwards; only compaction removes parts, after writing the parts that replace them.
Readers list `*.parquet` directly under the folder, so temporary (`.…tmp`) and hidden files are never read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.errors import StorageError
from tasks.storage.fs import Storage
from tasks.storage.layout import PART_SUFFIX, part_path

__all__ = [
    "PartTable",
    "list_parts",
    "part_schemas",
    "read_part",
    "read_parts",
    "write_parquet",
    "write_part",
]

# zstd: about half snappy's size on result rows at a similar speed; every reader we test supports it.
_COMPRESSION = "zstd"


@dataclass(frozen=True)
class PartTable:
    """A table kept as parts under one folder of the output.

    Args:
        folder: the folder under the output root (`layout.RESULTS_DIR`, `layout.LEDGER_DIR`).
        fixed: the table's own columns, typed once; other columns (catalog pass-through) follow them.
        key: the columns that identify a row: two rows equal on them are one row seen twice (after an
            interrupted compaction, or a write retried after it had landed). Readers keep the first.
        order: the column merged parts are sorted by.
        reduce: what compaction keeps of the deduplicated rows (all of them when None).
        backfill: gives rows written before the key existed their key, the same on every read (None
            when every part has it); it sees whole rows, so reads of a table with one read every column.
    """

    folder: str
    fixed: pa.Schema
    key: tuple[str, ...]
    order: str
    reduce: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    backfill: Callable[[pl.DataFrame], pl.DataFrame] | None = None


def write_part(storage: Storage, folder: str, table: pa.Table, *, run_id: str) -> str | None:
    """Write `table` as one new part under `folder`, atomically; returns its URL (None when it has no rows)."""
    if table.num_rows == 0:
        return None
    return write_parquet(storage, part_path(folder, run_id), table)


def write_parquet(storage: Storage, path: str, table: pa.Table) -> str:
    """Write `table` as one Parquet file at `path` (relative to the storage root), atomically; returns its URL."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=_COMPRESSION)
    return storage.write_bytes(path, sink.getvalue().to_pybytes())


def list_parts(storage: Storage, folder: str) -> list[str]:
    """The parts under `folder`, sorted; temporary and hidden files are left out."""
    return storage.list(folder, PART_SUFFIX)


def read_part(storage: Storage, part: str) -> pa.Table:
    """One part as an Arrow table, in the types it was written with.

    Raises:
        StorageError: the part cannot be read or is not Parquet; names it.
    """
    try:
        return pq.read_table(io.BytesIO(storage.read_bytes(part)))
    except (pa.ArrowInvalid, OSError) as error:
        raise StorageError(f"cannot read {storage.url(part)} as Parquet: {error}", uri=storage.url(part)) from None


def read_parts(
    storage: Storage, table: PartTable, *, columns: Sequence[str] | None = None, parts: Sequence[str] | None = None
) -> pl.DataFrame:
    """Every part of `table` (or just `parts`) as one frame, each row once.

    Parts written before a schema change are read as they are and joined by polars' relaxed concat, so
    an older output stays readable; the key columns are always read, to drop rows seen twice.
    Returns an empty frame of the fixed columns when there is no part.
    """
    parts = list_parts(storage, table.folder) if parts is None else parts
    wanted = None if columns is None or table.backfill else list(dict.fromkeys([*table.key, *columns]))
    frames = [_read_frame(storage, part, wanted) for part in parts]
    if not frames:
        frame = pl.from_arrow(table.fixed.empty_table())
        assert isinstance(frame, pl.DataFrame)
    else:
        frame = pl.concat(frames, how="diagonal_relaxed")
        frame = table.backfill(frame) if table.backfill else frame
        frame = frame.unique(subset=list(table.key), keep="first", maintain_order=True)
    if columns is None:
        return frame
    missing = [name for name in columns if name not in frame.columns]
    return frame.with_columns(pl.lit(None).alias(name) for name in missing).select(columns)


def part_schemas(storage: Storage, folder: str) -> dict[str, pa.Schema]:
    """Each part's schema, read from its footer alone (a small read per part, whatever its size)."""
    schemas = {}
    for part in list_parts(storage, folder):
        with storage.fs.open(storage.path(part), "rb") as handle:
            schemas[part] = pq.read_schema(handle).remove_metadata()
    return schemas


def _read_frame(storage: Storage, part: str, columns: list[str] | None) -> pl.DataFrame:
    data = storage.read_bytes(part)
    if columns is None:
        return pl.read_parquet(io.BytesIO(data))
    held = pl.read_parquet_schema(io.BytesIO(data))
    return pl.read_parquet(io.BytesIO(data), columns=[name for name in columns if name in held])
