"""Read an exported row's source image under the pipeline's own rules (`storage.sources.load_image`).

The results table's `source` column holds the reference the job was made from: a path or URL as the
pipeline resolved it, read again exactly so. Sources the catalog held inline (binary cells, `data:`
URIs) are shown there only in short; those are looked up in the catalog by row id and checked against
what the results recorded, so an export never pairs an edit with a source that has since changed.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import fsspec
import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from tasks.core.config import CatalogConfig
from tasks.core.errors import CatalogError, SourceError
from tasks.core.models import ImageRef
from tasks.storage.source_policy import SourcePolicy
from tasks.storage.sources import SourceReader as StorageSourceReader
from tasks.storage.sources import load_image

__all__ = ["SourceReader", "source_ref"]

_BYTES_PREFIX = "<bytes "


def source_ref(display: str) -> ImageRef | None:
    """The reference a results `source` value names; None when it is a short form of inline catalog bytes."""
    if display.startswith((_BYTES_PREFIX, "data:")):
        return None
    return ImageRef("url" if "://" in display else "path", display)


class SourceReader:
    """Loads sources as the pipeline does, with the catalog's settings.

    Args:
        catalog: the config's `catalog` section (storage options, and the rules for reading sources).
        http: the client for http(s) sources.
    """

    def __init__(self, catalog: CatalogConfig, http: httpx.AsyncClient) -> None:
        self._catalog = catalog
        self._http = http
        # Exports read sources under the same default-deny policy and caps as the run that edited them.
        self._reader = StorageSourceReader(
            SourcePolicy.for_catalog(catalog),
            http,
            deadline=catalog.sources.timeout,
            storage_options=catalog.storage_options,
        )

    async def read(self, row_id: str, display: str, inline: dict[str, ImageRef]) -> bytes:
        """The source bytes of one row.

        Args:
            row_id: the row, named in errors.
            display: the results row's `source` value.
            inline: catalog references of rows whose source the results show only in short
                (from `inline_refs`).

        Raises:
            SourceError: the source cannot be read, is not allowed, or changed since the edit.
        """
        ref = source_ref(display) or _checked(inline.get(row_id), display, row_id)
        image = await load_image(ref, self._reader, role="source", row_id=row_id)
        assert image.data is not None, "need_bytes is the default"
        return image.data

    async def inline_refs(self, row_ids: set[str]) -> dict[str, ImageRef]:
        """Catalog references of `row_ids` (only those whose source was inline), read in one filtered scan.

        Raises:
            CatalogError: the catalog cannot be read.
        """
        if not row_ids:
            return {}
        return await asyncio.to_thread(_read_inline, self._catalog, row_ids)


def _checked(ref: ImageRef | None, display: str, row_id: str) -> ImageRef:
    if ref is None or ref.display != display:
        raise SourceError(
            f"row {row_id}: its inline source ({display}) is no longer in the catalog as it was edited",
            row_id=row_id,
            column="source",
        )
    return ref


def _read_inline(catalog: CatalogConfig, row_ids: set[str]) -> dict[str, ImageRef]:
    id_column, image_column = catalog.columns.id, catalog.columns.image
    try:
        fs, path = fsspec.core.url_to_fs(catalog.uri, **catalog.storage_options)
        files: Any = path if fs.isdir(path) else sorted(fs.glob(path)) if any(c in path for c in "*?[") else [path]
        table = ds.dataset(files, filesystem=fs, format="parquet").to_table(
            columns=[id_column, image_column],
            filter=pc.field(id_column).cast(pa.string()).isin(pa.array(sorted(row_ids), pa.string())),
        )
    except Exception as error:  # pyarrow and fsspec raise many types for unreadable input
        raise CatalogError(f"cannot read catalog {catalog.uri} for inline sources: {error}") from None
    refs = {}
    for row_id, cell in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True):
        if isinstance(cell, bytes):
            refs[str(row_id)] = ImageRef("bytes", hashlib.sha256(cell).hexdigest(), data=cell)
        elif isinstance(cell, str) and cell.strip().startswith("data:"):
            refs[str(row_id)] = ImageRef("data", cell.strip())
    return refs
