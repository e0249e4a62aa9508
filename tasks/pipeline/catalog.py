"""Read a Parquet catalog from any fsspec URL in batches, map its columns, and validate its rows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from tasks.core.config import CatalogConfig
from tasks.core.errors import CatalogError
from tasks.core.models import ImageRef

__all__ = ["CatalogRow", "iter_catalog", "read_catalog_schema"]

_SHOWN = 5  # how many offending ids an error names


@dataclass(frozen=True)
class CatalogRow:
    """One validated catalog row, with its roles resolved and the other columns kept as extras."""

    id: str
    image: ImageRef
    prompt: str
    mask: ImageRef | None
    image_context: ImageRef | None
    extras: dict[str, Any]


def iter_catalog(
    config: CatalogConfig, *, limit: int | None = None, batch_size: int = 10_000
) -> Iterator[list[CatalogRow]]:
    """Yield validated rows in batches; memory holds one batch plus the set of ids seen.

    Args:
        config: the `catalog` section.
        limit: overrides `config.limit` when given.
        batch_size: rows read per Parquet batch.

    Raises:
        CatalogError: the catalog cannot be read, a mapped column is missing, or rows have null or
            duplicate ids or empty prompts/images; the message names the column, first ids and count.
    """
    dataset, base = _open(config)
    _check_columns(dataset.schema.names, config)
    extra_names = _extras(dataset.schema, config).names
    remaining = limit if limit is not None else config.limit
    seen: set[str] = set()
    predicate = _filter_expression(config.filter)
    for batch in dataset.to_batches(batch_size=batch_size):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        if predicate is not None:
            frame = _apply_filter(frame, predicate, config.filter or "")
        if remaining is not None:
            frame = frame.head(remaining)
            remaining -= frame.height
        if frame.height:
            yield _rows(frame, config, base, seen, extra_names)
        if remaining is not None and remaining <= 0:
            return


def read_catalog_schema(config: CatalogConfig) -> pa.Schema:
    """The catalog's pass-through columns (every column but the mapped roles and binary ones) in its
    own Arrow types: the results table carries them in these types. Reads the catalog's footer only.

    Raises:
        CatalogError: the catalog cannot be opened.
    """
    dataset, _ = _open(config)
    return _extras(dataset.schema, config)


def _extras(schema: pa.Schema, config: CatalogConfig) -> pa.Schema:
    mapping = config.columns
    roles = {mapping.id, mapping.image, mapping.prompt, mapping.mask, mapping.image_context, mapping.image_version}
    binary = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary, pa.types.is_binary_view)
    return pa.schema(
        [field for field in schema if field.name not in roles and not any(check(field.type) for check in binary)]
    )


def _open(config: CatalogConfig) -> tuple[ds.Dataset, str]:
    try:
        fs, path = fsspec.core.url_to_fs(config.uri, **config.storage_options)
        if fs.isdir(path):
            dataset = ds.dataset(path, filesystem=fs, format="parquet")
        else:
            files = sorted(fs.glob(path)) if any(ch in path for ch in "*?[") else [path]
            if not files or not fs.exists(files[0]):
                raise FileNotFoundError(config.uri)
            dataset = ds.dataset(files, filesystem=fs, format="parquet")
    except FileNotFoundError:
        raise CatalogError(f"catalog {config.uri} does not exist (catalog.uri)", column="catalog.uri") from None
    except Exception as error:  # pyarrow and fsspec raise many types for unreadable input
        raise CatalogError(f"cannot read catalog {config.uri} as Parquet: {error}", column="catalog.uri") from None
    base = config.uri if fs.isdir(path) else config.uri.rsplit("/", 1)[0] if "/" in config.uri else "."
    return dataset, base


def _check_columns(names: list[str], config: CatalogConfig) -> None:
    mapping = config.columns
    wanted = {"id": mapping.id, "image": mapping.image, "prompt": mapping.prompt}
    for role in ("mask", "image_context", "image_version"):
        column = getattr(mapping, role)
        if column:
            wanted[role] = column
    missing = {role: column for role, column in wanted.items() if column not in names}
    if missing:
        described = ", ".join(f"{column!r} (for {role}, catalog.columns.{role})" for role, column in missing.items())
        raise CatalogError(
            f"catalog {config.uri} has no column {described}; its columns are: {', '.join(names)}",
            column=", ".join(missing.values()),
        )


def _filter_expression(text: str | None) -> pl.Expr | None:
    if not text:
        return None
    try:
        return pl.sql_expr(text)
    except Exception as error:  # polars raises several SQL error types
        raise CatalogError(f"catalog.filter {text!r} is not a SQL expression polars can read: {error}") from None


def _apply_filter(frame: pl.DataFrame, predicate: pl.Expr, text: str) -> pl.DataFrame:
    try:
        return frame.filter(predicate)
    except Exception as error:
        raise CatalogError(f"catalog.filter {text!r} failed on the catalog: {error}") from None


def _rows(
    frame: pl.DataFrame, config: CatalogConfig, base: str, seen: set[str], extra_names: list[str]
) -> list[CatalogRow]:
    mapping = config.columns
    ids = frame.get_column(mapping.id).cast(pl.String)
    _fail_if(ids.is_null(), frame, ids, "null id", mapping.id, by_position=True)
    _fail_if(ids.is_duplicated(), frame, ids, "duplicate id", mapping.id)
    repeated = [value for value in ids.to_list() if value in seen]
    if repeated:
        _raise(f"duplicate id in column {mapping.id!r}", repeated)
    seen.update(ids.to_list())
    prompts = frame.get_column(mapping.prompt)
    _fail_if(
        prompts.is_null() | (prompts.cast(pl.String).str.strip_chars() == ""),
        frame,
        ids,
        "null or empty prompt",
        mapping.prompt,
    )
    images = frame.get_column(mapping.image)
    _fail_if(images.is_null(), frame, ids, "null image", mapping.image)
    versions = frame.get_column(mapping.image_version).cast(pl.String) if mapping.image_version else None
    rows = []
    for i, record in enumerate(frame.iter_rows(named=True)):
        version = versions[i] if versions is not None else None
        rows.append(
            CatalogRow(
                id=ids[i],
                image=image_ref(record[mapping.image], base, version=version),
                prompt=str(record[mapping.prompt]),
                mask=_optional_ref(record, mapping.mask, base),
                image_context=_optional_ref(record, mapping.image_context, base),
                extras={name: record[name] for name in extra_names},
            )
        )
    return rows


def image_ref(value: Any, base: str, *, version: str | None = None) -> ImageRef:
    """An ImageRef for a catalog cell: bytes, data: URI, URL, or a path (relative to the catalog)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return ImageRef("bytes", hashlib.sha256(data).hexdigest(), data=data, version=version)
    text = str(value).strip()
    if text.startswith("data:"):
        return ImageRef("data", text, version=version)
    if "://" in text:
        return ImageRef("url", text, version=version)
    if not os.path.isabs(text) and "://" not in base:
        text = os.path.normpath(os.path.join(os.path.abspath(base), text))
    elif not os.path.isabs(text):
        return ImageRef("url", f"{base.rstrip('/')}/{text}", version=version)
    return ImageRef("path", text, version=version)


def _optional_ref(record: dict[str, Any], column: str | None, base: str) -> ImageRef | None:
    if not column or record.get(column) in (None, ""):
        return None
    return image_ref(record[column], base)


def _fail_if(
    mask: pl.Series, frame: pl.DataFrame, ids: pl.Series, what: str, column: str, *, by_position: bool = False
) -> None:
    if not mask.any():
        return
    if by_position:
        labels = [f"#{i}" for i in mask.arg_true().to_list()]
        _raise(f"{what} in column {column!r} (rows by position in their batch)", labels)
    _raise(f"{what} in column {column!r}", ids.filter(mask).unique(maintain_order=True).to_list())


def _raise(what: str, labels: list[str]) -> None:
    shown = ", ".join(str(label) for label in labels[:_SHOWN])
    more = f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else ""
    raise CatalogError(
        f"catalog has {len(labels)} row(s) with {what}: {shown}{more}", rows=labels[:_SHOWN], count=len(labels)
    )
