"""The second pass of an export: stream the chosen results rows, part by part, in batches of one schema."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.exports.selection import PartRows, Selection, open_part
from tasks.storage.fs import Storage

__all__ = ["RowBatch", "iter_rows"]


@dataclass(frozen=True)
class RowBatch:
    """Chosen results rows (as dicts over the unified schema) and each one's split index."""

    rows: list[dict[str, Any]]
    splits: list[int]


def iter_rows(storage: Storage, selection: Selection, batch_size: int) -> Iterator[RowBatch]:
    """Yield the chosen rows in batches of at most `batch_size`, in part order; one part is open at a time.

    Raises:
        StorageError: a part cannot be read.
    """
    rows: list[dict[str, Any]] = []
    splits: list[int] = []
    for part in selection.parts:
        for batch, batch_splits in _part_rows(storage, part, selection.schema, batch_size):
            rows.extend(batch.to_pylist())
            splits.extend(batch_splits)
            while len(rows) >= batch_size:
                yield RowBatch(rows[:batch_size], splits[:batch_size])
                rows, splits = rows[batch_size:], splits[batch_size:]
    if rows:
        yield RowBatch(rows, splits)


def _part_rows(
    storage: Storage, part: PartRows, schema: pa.Schema, batch_size: int
) -> Iterator[tuple[pa.RecordBatch, list[int]]]:
    offset = cursor = 0
    with open_part(storage, part.part) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_size):
            end = offset + batch.num_rows
            stop = int(np.searchsorted(part.rows, end))
            if stop > cursor:
                taken = batch.take(pa.array(part.rows[cursor:stop] - offset))
                yield _aligned(taken, schema), part.splits[cursor:stop].tolist()
            cursor, offset = stop, end
            if cursor == len(part.rows):
                return


def _aligned(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch in the unified schema: columns cast, and null columns for those this part lacks."""
    names = set(batch.schema.names)
    arrays = [
        batch.column(field.name).cast(field.type) if field.name in names else pa.nulls(batch.num_rows, field.type)
        for field in schema
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
