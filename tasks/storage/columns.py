"""Arrow types of the output tables: declared once, and the one set of rules by which a column may widen.

A column keeps one Arrow type in every part of a table. When new rows bring another type for a column
the table already holds, `widen` picks the type both fit in, or raises:

- null (a column with no value yet) takes the other type; a column that is null everywhere is stored
  as string, never as Arrow's null type (which most readers cannot merge);
- Arrow's permissive promotion: integers widen to the larger integer (int32 → int64), integers and
  floats to float64, float32 to float64, decimals to a decimal holding both, timestamps to the finer
  unit, lists by their items;
- next to a string, any type that casts to text becomes string (its values are written as text);
- anything else (date next to int, a struct next to a list, timestamps with and without a time zone)
  is an error naming the column and both types.

Dictionary columns are stored as their values' type, and large/view strings as plain strings, so two
parts never differ only in encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from tasks.core.errors import CatalogError, StorageError

__all__ = ["arrow_schema", "build_column", "conform", "declared_schema", "storable", "widen"]


def arrow_schema(columns: Mapping[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema of columns declared as polars types (retouch declares its own columns in polars)."""
    empty = pl.DataFrame(schema=dict(columns)).to_arrow()
    return pa.schema([pa.field(field.name, storable(field.type)) for field in empty.schema])


def storable(kind: pa.DataType) -> pa.DataType:
    """The type a column of `kind` is stored as: no null type, no dictionary, no large or view strings."""
    if pa.types.is_null(kind):
        return pa.string()
    if pa.types.is_dictionary(kind):
        return storable(kind.value_type)
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    return kind


def widen(column: str, held: pa.DataType, incoming: pa.DataType) -> pa.DataType:
    """The type a column must have to hold values of both types, by the rules in the module docstring.

    Raises:
        CatalogError: no rule joins the two types; names the column and both types.
    """
    if pa.types.is_null(held) or pa.types.is_null(incoming):
        return storable(incoming if pa.types.is_null(held) else held)
    held, incoming = storable(held), storable(incoming)
    if held.equals(incoming):
        return held
    try:
        pair = [pa.schema([pa.field(column, held)]), pa.schema([pa.field(column, incoming)])]
        return storable(pa.unify_schemas(pair, promote_options="permissive").field(column).type)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if (pa.types.is_string(held) and _casts(incoming, held)) or (
        pa.types.is_string(incoming) and _casts(held, incoming)
    ):
        return pa.string()
    raise CatalogError(
        f"column {column!r} is {held} in the output's table but {incoming} in the new rows, and no widening "
        "joins them (README, 'Results schema'): convert the catalog column back, rename it, or write to a "
        "new output.uri",
        column=column,
    )


def declared_schema(fixed: pa.Schema, held: Iterable[pa.Schema], incoming: pa.Schema | None = None) -> pa.Schema:
    """One table's schema: `fixed` columns as declared, then every other column widened over all schemas.

    Args:
        fixed: the table's own columns, typed once; they come first and never change type.
        held: the schemas of the parts already written.
        incoming: the columns the next rows bring (the catalog's pass-through columns), if any.

    Raises:
        CatalogError: a pass-through column's types cannot be joined (see `widen`).
        StorageError: a part holds one of the fixed columns in a type that cannot be cast to its own.
    """
    others: dict[str, pa.DataType] = {}
    for schema in [*held, *([incoming] if incoming is not None else [])]:
        for field in schema:
            if field.name in fixed.names:
                _check_fixed(field, fixed.field(field.name).type)
            elif field.name in others:
                others[field.name] = widen(field.name, others[field.name], field.type)
            else:
                others[field.name] = field.type
    return pa.schema([*fixed, *(pa.field(name, storable(kind)) for name, kind in others.items())])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` in `schema`'s column order and types; its missing columns become nulls.

    Columns `schema` does not name are dropped: callers declare a schema that holds every column.
    """
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            columns.append(column if column.type.equals(field.type) else column.cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def build_column(values: Sequence[Any], kind: pa.DataType | None = None) -> pa.Array:
    """An Arrow array of Python values in `kind` (inferred, then made storable, when None).

    Values of a narrower type than `kind` (a date into a string column, an int into a float64 one) are
    converted by Arrow's cast, so the text of a widened date is its ISO form.
    """
    if kind is None:
        inferred = pa.array(values)
        return inferred.cast(storable(inferred.type))
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(values).cast(kind)


def _casts(source: pa.DataType, target: pa.DataType) -> bool:
    try:
        pa.array([], type=source).cast(target)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _check_fixed(field: pa.Field, declared: pa.DataType) -> None:
    if not pa.types.is_null(field.type) and not _casts(field.type, declared):
        raise StorageError(
            f"a part holds retouch's column {field.name!r} as {field.type}, which cannot be read as {declared}; "
            "the part was not written by retouch",
            column=field.name,
        )
