"""Load one batch of chosen rows' images (source and edit) concurrently; a row that cannot load is skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from tasks.core.errors import InputError, StorageError
from tasks.core.formats import sniff_media_type
from tasks.exports.names import sample_key
from tasks.exports.reading import RowBatch
from tasks.exports.sources import SourceReader, source_ref
from tasks.storage.fs import Storage
from tasks.storage.layout import image_path

__all__ = ["ExportRecord", "ImageLoader", "Skipped"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class ExportRecord:
    """One edit ready to write: its key and split, its results row, and both images' bytes.

    `edited` is None for a row without an output (a failed job, when failed rows are exported).
    """

    key: str
    split: int
    row: dict[str, Any]
    source: bytes
    source_format: str
    edited: bytes | None
    edited_format: str | None


@dataclass(frozen=True)
class Skipped:
    """A chosen row the export left out, and why."""

    row_id: str
    variant: str
    reason: str


class ImageLoader:
    """Reads a batch's sources (once per row, shared by its variants) and edited images.

    Args:
        output: the run's output root; edited images are read at their layout path under it, so an
            output folder copied elsewhere exports the same.
        sources: reads source images under the catalog's rules.
        concurrency: reads in flight at once.
    """

    def __init__(self, output: Storage, sources: SourceReader, concurrency: int) -> None:
        self._output = output
        self._sources = sources
        self._slots = asyncio.Semaphore(concurrency)

    async def load(self, batch: RowBatch) -> tuple[list[ExportRecord], list[Skipped]]:
        """Load every row of `batch`; returns the records in order, and the rows skipped.

        Raises:
            CatalogError: the catalog could not be read for inline sources.
        """
        inline_ids = {str(row["row_id"]) for row in batch.rows if source_ref(str(row["source"])) is None}
        inline = await self._sources.inline_refs(inline_ids)
        shared: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        for row in batch.rows:
            row_id, display = str(row["row_id"]), str(row["source"])
            if (row_id, display) not in shared:  # a row's variants share one read of its source
                read = self._sources.read(row_id, display, inline)
                shared[(row_id, display)] = asyncio.ensure_future(self._bounded(read))
        pairs = zip(batch.rows, batch.splits, strict=True)
        outcomes = await asyncio.gather(
            *(self._one(row, split, shared[(str(row["row_id"]), str(row["source"]))]) for row, split in pairs)
        )
        records = [outcome for outcome in outcomes if isinstance(outcome, ExportRecord)]
        return records, [outcome for outcome in outcomes if isinstance(outcome, Skipped)]

    async def _one(self, row: dict[str, Any], split: int, source: asyncio.Future[bytes]) -> ExportRecord | Skipped:
        row_id, variant = str(row["row_id"]), str(row["variant"])
        try:
            source_bytes = await source
            edited = await self._bounded(self._edited(row)) if row.get("output_uri") else None
        except (InputError, StorageError) as error:
            return Skipped(row_id, variant, error.message)
        source_format = _format(source_bytes)
        edited_format = _format(edited) if edited is not None else None
        if source_format is None or (edited is not None and edited_format is None):
            which = "source" if source_format is None else "edited image"
            return Skipped(row_id, variant, f"row {row_id}: its {which} is not an image")
        return ExportRecord(
            key=sample_key(row_id, variant, row.get("seed"), row.get("output_index")),
            split=split,
            row=row,
            source=source_bytes,
            source_format=source_format,
            edited=edited,
            edited_format=edited_format,
        )

    async def _edited(self, row: dict[str, Any]) -> bytes:
        extension = str(row["output_uri"]).rsplit(".", 1)[-1]
        relative = image_path(str(row["variant"]), str(row["job_key"]), int(row["output_index"] or 0), extension)
        try:
            return await asyncio.to_thread(self._output.read_bytes, relative)
        except FileNotFoundError:
            raise StorageError(
                f"row {row['row_id']}: edited image {self._output.url(relative)} is missing",
                uri=self._output.url(relative),
            ) from None

    async def _bounded(self, work: Awaitable[_T]) -> _T:
        async with self._slots:
            return await work


def _format(data: bytes) -> str | None:
    media_type = sniff_media_type(data)
    return media_type.removeprefix("image/") if media_type.startswith("image/") else None
