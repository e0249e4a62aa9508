"""Hugging Face `datasets` shards: Parquet with `Image` features, in the shape image-editing datasets use.

One row per edit: `original_image`, `edit_prompt`, `edited_image`, then who made it and what it cost,
then the catalog's columns. An `Image` column is a struct {bytes, path}; the features are declared in
the Parquet schema's `huggingface` metadata, which is how `datasets` knows to decode them as images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.formats import EXTENSIONS, parse_format
from tasks.exports.columns import Column, catalog_fields, portable, row_value
from tasks.exports.loading import ExportRecord
from tasks.exports.names import source_name
from tasks.exports.shards import ParquetShard

__all__ = ["IMAGE_TYPE", "HfFormat"]

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_IMAGE_FEATURE = {"_type": "Image"}


def _value(name: str) -> Column:
    return Column(name, pa.string(), row_value(name))


# The fixed columns and their `datasets` features, in order.
_FIXED: list[tuple[Column, dict[str, Any]]] = [
    (Column("key", pa.string(), lambda r: r.key), {"dtype": "string", "_type": "Value"}),
    (Column("original_image", IMAGE_TYPE, lambda r: _source_image(r)), _IMAGE_FEATURE),
    (Column("edit_prompt", pa.string(), lambda r: r.row.get("prompt")), {"dtype": "string", "_type": "Value"}),
    (Column("edited_image", IMAGE_TYPE, lambda r: _edited_image(r)), _IMAGE_FEATURE),
    *[(_value(name), {"dtype": "string", "_type": "Value"}) for name in ("row_id", "variant", "provider", "model")],
    (Column("seed", pa.int64(), lambda r: r.row.get("seed")), {"dtype": "int64", "_type": "Value"}),
    (Column("output_index", pa.int32(), lambda r: r.row.get("output_index")), {"dtype": "int32", "_type": "Value"}),
    (Column("cost", pa.float64(), lambda r: r.row.get("cost")), {"dtype": "float64", "_type": "Value"}),
    (Column("credits", pa.float64(), lambda r: r.row.get("credits")), {"dtype": "float64", "_type": "Value"}),
    *[(_value(name), {"dtype": "string", "_type": "Value"}) for name in ("params", "status", "job_key", "run_id")],
]


class HfFormat:
    """The Hugging Face Parquet layout for a results table of a given schema.

    Args:
        results_schema: the unified results schema (its catalog columns are carried over).
    """

    extension = "parquet"

    def __init__(self, results_schema: pa.Schema) -> None:
        columns = [column for column, _ in _FIXED]
        features = {column.name: feature for column, feature in _FIXED}
        for name, item in catalog_fields(results_schema, {column.name for column in columns}):
            data_type, feature, convert = portable(item.type)
            columns.append(Column(name, data_type, row_value(item.name, convert)))
            features[name] = feature
        self.columns = columns
        self.features = features
        metadata = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
        self.schema = pa.schema([(column.name, column.type) for column in columns], metadata=metadata)

    def table(self, records: Sequence[ExportRecord]) -> pa.Table:
        """The records as one Arrow table of this format's schema."""
        arrays = [pa.array([column.value(record) for record in records], type=column.type) for column in self.columns]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def open(self, handle: IO[bytes]) -> ParquetShard:
        """A shard writing into `handle`, one row group per `write`."""
        return ParquetShard(pq.ParquetWriter(handle, self.schema, compression="zstd"), self.table)


def _source_image(record: ExportRecord) -> dict[str, Any]:
    name = f"{source_name(str(record.row['row_id']))}.{_extension(record.source_format)}"
    return {"bytes": record.source, "path": name}


def _edited_image(record: ExportRecord) -> dict[str, Any] | None:
    if record.edited is None or record.edited_format is None:
        return None
    return {"bytes": record.edited, "path": f"{record.key}.{_extension(record.edited_format)}"}


def _extension(fmt: str) -> str:
    known = parse_format(fmt)
    return EXTENSIONS[known] if known else fmt  # gif, bmp, tiff sources keep their own name
