"""Plain Parquet shards for polars and DuckDB: every results column plus both images' bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.exports.columns import Column, plain_type, row_value
from tasks.exports.loading import ExportRecord
from tasks.exports.shards import ParquetShard

__all__ = ["TableFormat"]

# Added around the results columns; a catalog column of the same name is renamed catalog_<name>.
_ADDED = [
    Column("source_image", pa.binary(), lambda r: r.source),
    Column("source_format", pa.string(), lambda r: r.source_format),
    Column("source_sha256", pa.string(), lambda r: hashlib.sha256(r.source).hexdigest()),
    Column("edited_image", pa.binary(), lambda r: r.edited),
]


class TableFormat:
    """One Parquet table (in shards): `key`, the results row's columns, then the images.

    Args:
        results_schema: the unified results schema; its types are kept (minus view/large encodings).
    """

    extension = "parquet"

    def __init__(self, results_schema: pa.Schema) -> None:
        added = {column.name for column in _ADDED} | {"key"}
        columns = [Column("key", pa.string(), lambda r: r.key)]
        for item in results_schema:
            name = f"catalog_{item.name}" if item.name in added else item.name
            columns.append(Column(name, plain_type(item.type), row_value(item.name)))
        self.columns = [*columns, *_ADDED]
        self.schema = pa.schema([(column.name, column.type) for column in self.columns])

    def table(self, records: Sequence[ExportRecord]) -> pa.Table:
        """The records as one Arrow table of this format's schema."""
        arrays = [pa.array([column.value(record) for record in records], type=column.type) for column in self.columns]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def open(self, handle: IO[bytes]) -> ParquetShard:
        """A shard writing into `handle`, one row group per `write`."""
        return ParquetShard(pq.ParquetWriter(handle, self.schema, compression="zstd"), self.table)
