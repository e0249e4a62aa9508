"""Merge a table's parts into few parts of one schema: `retouch compact`, and a run's schema upgrade.

Order of work: read every part listed at the start, write the merged parts (each atomic), and only then
delete the parts they replace. Parts written after the listing (none while the lease is respected) are
never touched. A crash between the writes and the deletes leaves rows in both the old and the merged
parts; retouch's readers (`parts.read_parts`) drop the second copy by the table's key, and the next
`retouch compact` removes it from storage:

- results rows are keyed by (job_key, output_index, run_id, finished_at): one event of one output;
- ledger rows by `ledger_id`, a unique id each billed request's row gets when it is made (rows written
  before the id existed get one derived from their content, the same on every read), so a bill is
  counted once however many parts hold its row.

Why not a manifest of live parts instead: every other reader (a polars or DuckDB glob, pyarrow.dataset,
`datasets`) would ignore it, and each checkpoint flush would have to rewrite that one file. With keys,
every part stays a plain Parquet file and a reader that globs sees duplicates only in the window of an
interrupted compaction, which the next compaction closes. Between the writes and the deletes such a
reader may see both copies; removing first would instead hide rows, which is worse for a ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from tasks.core.errors import StorageError
from tasks.storage.columns import conform, declared_schema
from tasks.storage.fs import Storage
from tasks.storage.layout import COMPACTED_RUN_ID, LEASE_PATH
from tasks.storage.parts import PartTable, list_parts, read_part, write_part

__all__ = ["ROWS_PER_PART", "Compaction", "compact_output", "compact_table"]

# A million result rows are ~100 MB in memory and tens of MB on disk: few files, each easy to read.
ROWS_PER_PART = 1_000_000


@dataclass(frozen=True)
class Compaction:
    """What compacting one table did."""

    folder: str
    parts_before: int
    parts_after: int
    rows_before: int
    rows_after: int


def compact_output(
    storage: Storage, tables: Sequence[PartTable], *, rows_per_part: int = ROWS_PER_PART
) -> tuple[Compaction, ...]:
    """Compact every table of an output, unless a run holds it.

    Raises:
        StorageError: the output's lease file exists (a run is writing), or a part cannot be read.
    """
    if storage.exists(LEASE_PATH):
        raise StorageError(
            f"{storage.url(LEASE_PATH)} exists: a run holds this output, so it cannot be compacted now. "
            "Compact after the run ends (if no run is alive, the lease is stale: remove the file).",
            uri=storage.url(LEASE_PATH),
        )
    return tuple(compact_table(storage, table, rows_per_part=rows_per_part) for table in tables)


def compact_table(
    storage: Storage, table: PartTable, *, schema: pa.Schema | None = None, rows_per_part: int = ROWS_PER_PART
) -> Compaction:
    """Rewrite `table`'s parts as few parts of `schema` (by default: its parts' schemas, widened).

    Each row is kept once (by the table's key) and `table.reduce` decides what else stays. A table of
    one part already in `schema` is left as it is.

    Raises:
        CatalogError: two parts hold a pass-through column in types no widening joins.
    """
    parts = list_parts(storage, table.folder)
    tables = [read_part(storage, part) for part in parts]
    if schema is None:
        schema = declared_schema(table.fixed, [part.schema for part in tables])
    rows = sum(part.num_rows for part in tables)
    if not parts or (len(parts) == 1 and tables[0].schema.remove_metadata().equals(schema)):
        return Compaction(table.folder, len(parts), len(parts), rows, rows)
    merged = _merge(table, [conform(part, schema) for part in tables])
    out = conform(merged.to_arrow(), schema)
    written = [
        write_part(storage, table.folder, out.slice(start, rows_per_part), run_id=COMPACTED_RUN_ID)
        for start in range(0, out.num_rows, rows_per_part)
    ]
    for part in parts:  # only once every merged part is durable: see the module docstring
        storage.delete(part)
    return Compaction(table.folder, len(parts), len(written), rows, out.num_rows)


def _merge(table: PartTable, parts: list[pa.Table]) -> pl.DataFrame:
    frame = pl.from_arrow(pa.concat_tables(parts))
    assert isinstance(frame, pl.DataFrame)
    if table.backfill is not None:
        frame = table.backfill(frame)
    frame = frame.unique(subset=list(table.key), keep="first", maintain_order=True)
    if table.reduce is not None:
        frame = table.reduce(frame)
    return frame.sort(table.order, nulls_last=False, maintain_order=True)
