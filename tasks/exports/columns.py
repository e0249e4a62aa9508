"""Export columns: the catalog's pass-through columns, and Arrow types every reader (and `datasets`) takes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tasks.storage.results import RESULT_SCHEMA

__all__ = ["Column", "catalog_fields", "hf_dtype", "plain_type", "portable", "row_value"]


@dataclass(frozen=True)
class Column:
    """One output column: its name, Arrow type, and how a record's value is read."""

    name: str
    type: pa.DataType
    value: Callable[[Any], Any]


def row_value(name: str, convert: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """A reader of results column `name` from an export record (converted if asked)."""

    def read(record: Any) -> Any:
        value = record.row.get(name)
        return convert(value) if convert is not None else value

    return read


def catalog_fields(schema: pa.Schema, taken: set[str]) -> list[tuple[str, pa.Field]]:
    """The catalog's columns in the results schema, each with its export name (`catalog_` before a clash)."""
    found = []
    for item in schema:
        if item.name in RESULT_SCHEMA:
            continue
        name = item.name if item.name not in taken else f"catalog_{item.name}"
        found.append((name, item))
    return found


def plain_type(data_type: pa.DataType) -> pa.DataType:
    """The type without view, large or dictionary encodings (plain Parquet types every reader knows)."""
    if pa.types.is_dictionary(data_type):
        return plain_type(data_type.value_type)
    if pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return pa.string()
    if pa.types.is_large_binary(data_type) or pa.types.is_binary_view(data_type):
        return pa.binary()
    if pa.types.is_large_list(data_type) or pa.types.is_list_view(data_type):
        return pa.list_(plain_type(data_type.value_type))
    if pa.types.is_list(data_type):
        return pa.list_(plain_type(data_type.value_type))
    return data_type


def hf_dtype(data_type: pa.DataType) -> str | None:
    """The `datasets` Value dtype of a primitive Arrow type; None for types it has no Value for."""
    data_type = plain_type(data_type)
    for check, name in _NAMED:
        if check(data_type):
            return name
    if pa.types.is_integer(data_type) or pa.types.is_timestamp(data_type) or pa.types.is_duration(data_type):
        return str(data_type)  # int8…uint64, timestamp[us, tz=UTC], duration[s]: datasets spells them so
    return None


_NAMED: list[tuple[Callable[[pa.DataType], bool], str]] = [
    (pa.types.is_boolean, "bool"),
    (pa.types.is_float16, "float16"),
    (pa.types.is_float32, "float32"),
    (pa.types.is_float64, "float64"),
    (pa.types.is_string, "string"),
    (pa.types.is_binary, "binary"),
    (pa.types.is_date32, "date32"),
    (pa.types.is_date64, "date64"),
]


def portable(data_type: pa.DataType) -> tuple[pa.DataType, dict[str, Any], Callable[[Any], Any]]:
    """How a catalog column goes into a Hugging Face dataset: its type, its feature, its value conversion.

    Primitive types and lists of them keep their type; anything else (structs, maps, nested lists)
    becomes JSON text, so the dataset card's features always describe the data exactly.
    """
    dtype = hf_dtype(data_type)
    if dtype is not None:
        return plain_type(data_type), {"dtype": dtype, "_type": "Value"}, _same
    if pa.types.is_list(plain_type(data_type)):
        inner = hf_dtype(plain_type(data_type).value_type)
        if inner is not None:
            feature = {"feature": {"dtype": inner, "_type": "Value"}, "_type": "List"}
            return plain_type(data_type), feature, _same
    return pa.string(), {"dtype": "string", "_type": "Value"}, _as_json


def _same(value: Any) -> Any:
    return value


def _as_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)
