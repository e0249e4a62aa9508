"""The first pass of an export: which results rows it takes, in which split, read from a few key columns.

Memory holds a few numbers per chosen row (part, row index, slot hash, split), never a row's text or
images; the second pass (`reading`) streams the chosen rows part by part.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.errors import ConfigError, StorageError
from tasks.exports.options import ExportOptions
from tasks.exports.splits import split_of
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR

__all__ = ["PartRows", "Selection", "open_part", "select_rows"]

_KEYS = ["row_id", "variant", "seed", "output_index", "status", "finished_at"]


@dataclass(frozen=True)
class PartRows:
    """The chosen rows of one results part: ascending row indices and each one's split index."""

    part: str
    rows: npt.NDArray[np.int64]
    splits: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Selection:
    """Every chosen row, by part, with the results schema unified over the parts."""

    parts: tuple[PartRows, ...]
    schema: pa.Schema
    split_counts: tuple[int, ...]
    variants: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.split_counts)


@contextmanager
def open_part(storage: Storage, part: str) -> Iterator[pq.ParquetFile]:
    """One results part, opened for reading in batches.

    Raises:
        StorageError: the part cannot be opened or is not Parquet.
    """
    try:
        with storage.fs.open(storage.path(part), "rb") as handle:
            yield pq.ParquetFile(handle)
    except (OSError, pa.ArrowException) as error:
        raise StorageError(f"cannot read results part {storage.url(part)}: {error}", uri=storage.url(part)) from None


def select_rows(storage: Storage, options: ExportOptions) -> Selection:
    """Choose the rows to export: status and variant filters, then the newest row of each slot.

    A slot is (row id, variant, seed, output index): when a job ran again (a changed catalog row, a
    failure retried, `--force`), the newest row describes the image stored under the job's key.

    Raises:
        ConfigError: `options.variants` names a variant the results table does not hold.
        StorageError: a part cannot be read.
    """
    frames: list[pl.DataFrame] = []
    schemas: list[pa.Schema] = []
    variants: set[str] = set()
    parts = storage.list(RESULTS_DIR, ".parquet")
    for number, part in enumerate(parts):
        with open_part(storage, part) as parquet:
            schemas.append(parquet.schema_arrow)
            keys = pl.from_arrow(parquet.read(columns=_KEYS))
        assert isinstance(keys, pl.DataFrame)
        variants.update(value for value in keys.get_column("variant").unique().to_list() if value is not None)
        frames.append(_chosen_keys(keys, number, options))
    _check_variants(options.variants, variants, storage)
    chosen = _newest_per_slot(frames)
    return Selection(
        parts=_by_part(chosen, parts),
        schema=_unify(schemas),
        split_counts=tuple(int((chosen.get_column("split") == i).sum()) for i in range(len(options.splits))),
        variants=tuple(sorted(variants)),
    )


def _chosen_keys(keys: pl.DataFrame, number: int, options: ExportOptions) -> pl.DataFrame:
    keys = keys.with_row_index("row").filter(pl.col("status").is_in(list(options.statuses)))
    if options.variants:
        keys = keys.filter(pl.col("variant").is_in(list(options.variants)))
    splits = [split_of(str(row_id), options.seed, options.splits) for row_id in keys.get_column("row_id").to_list()]
    return keys.select(
        pl.lit(number, dtype=pl.UInt32).alias("part"),
        pl.col("row").cast(pl.Int64),
        pl.struct("row_id", "variant", "seed", "output_index").hash().alias("slot"),
        pl.col("finished_at").cast(pl.Int64).alias("finished"),
        pl.Series("split", splits, dtype=pl.Int64),
    )


def _newest_per_slot(frames: list[pl.DataFrame]) -> pl.DataFrame:
    schema = {"part": pl.UInt32, "row": pl.Int64, "slot": pl.UInt64, "finished": pl.Int64, "split": pl.Int64}
    if not frames:
        return pl.DataFrame(schema=schema)
    keys = pl.concat(frames).sort("finished", nulls_last=False, maintain_order=True)
    return keys.unique(subset="slot", keep="last", maintain_order=True).sort("part", "row")


def _by_part(chosen: pl.DataFrame, parts: list[str]) -> tuple[PartRows, ...]:
    found = []
    for (number,), group in chosen.group_by("part", maintain_order=True):
        found.append(
            PartRows(
                part=parts[int(number)],
                rows=group.get_column("row").to_numpy(),
                splits=group.get_column("split").to_numpy(),
            )
        )
    return tuple(found)


def _check_variants(wanted: tuple[str, ...], present: set[str], storage: Storage) -> None:
    missing = sorted(set(wanted) - present)
    if missing:
        raise ConfigError(
            f"--variant {', '.join(missing)}: no such variant in {storage.url(RESULTS_DIR)}; "
            f"it holds: {', '.join(sorted(present)) or '(no rows)'}"
        )


def _unify(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema over parts written at different times; a column whose types cannot merge becomes text."""
    if not schemas:
        return pa.schema([])
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    fields: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for item in schema:
            fields.setdefault(item.name, []).append(item.type)
    unified = []
    for name, types in fields.items():
        try:
            unified.append(pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive")[0])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            unified.append(pa.field(name, pa.string()))
    return pa.schema(unified)
