"""The report's before/after gallery: a seeded sample of catalog rows, each source beside its variants' outputs."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import polars as pl

from tasks.core.config import CatalogConfig
from tasks.core.errors import CatalogError, InputError, StorageError
from tasks.exports.sources import SourceReader, source_ref
from tasks.http.client import new_client
from tasks.reports.thumbnails import Thumb, make_thumbnail
from tasks.storage.fs import Storage
from tasks.storage.layout import image_path

__all__ = ["GALLERY_CELLS", "GALLERY_ROWS", "GalleryCell", "GalleryRow", "build_gallery", "sample_row_ids"]

GALLERY_ROWS = 24  # catalog rows shown: enough to judge a run, small enough for one page and one PNG
GALLERY_CELLS = 8  # outputs shown per row (variants × seeds × count can be many more)
_DEFAULT_MAX_PIXELS = 50_000_000  # outputs when no catalog policy is given: Pillow's own bomb limit is 89M
_HTTP_TIMEOUT = 30.0  # seconds per http(s) source read


@dataclass(frozen=True)
class GalleryCell:
    """One output (or one job without an output) of a sampled row, with what made it."""

    variant: str
    provider: str
    model: str
    seed: int | None
    prompt: str
    status: str
    cost: float | None
    credits: float | None
    error: str
    image: Thumb | None
    note: str = ""  # why there is no image, when there is none


@dataclass(frozen=True)
class GalleryRow:
    """A sampled catalog row: its source thumbnail (or why it is not shown) and its outputs."""

    row_id: str
    source: Thumb | None
    source_note: str
    cells: tuple[GalleryCell, ...]
    more: int = 0  # outputs of the row left out past GALLERY_CELLS


def sample_row_ids(results: pl.DataFrame, *, size: int = GALLERY_ROWS, seed: int = 0) -> list[str]:
    """Up to `size` row ids of `results`, drawn with `seed` (the same run gives the same sample), sorted."""
    ids = sorted(str(value) for value in results.get_column("row_id").drop_nulls().unique().to_list())
    chosen = random.Random(seed).sample(ids, size) if len(ids) > size else ids
    return sorted(chosen)


def build_gallery(
    results: pl.DataFrame,
    output: Storage,
    catalog: CatalogConfig | None,
    *,
    size: int = GALLERY_ROWS,
    seed: int = 0,
) -> list[GalleryRow]:
    """Thumbnail a seeded sample of `results`' rows, one image at a time.

    Args:
        results: the run's results rows.
        output: the run's output root (outputs are read at their layout path under it, never elsewhere).
        catalog: the run's catalog settings: sources are read under its source policy and caps, and
            images of more than its `sources.max_pixels` are not decoded; None: sources are not shown.
        size: rows in the sample.
        seed: the sample's seed.
    """
    chosen = sample_row_ids(results, size=size, seed=seed)
    frame = results.filter(pl.col("row_id").is_in(chosen)).sort("row_id", "variant", "seed", "output_index")
    return asyncio.run(_build(frame, chosen, output, catalog))


async def _build(
    frame: pl.DataFrame, chosen: list[str], output: Storage, catalog: CatalogConfig | None
) -> list[GalleryRow]:
    max_pixels = catalog.sources.max_pixels if catalog is not None else _DEFAULT_MAX_PIXELS
    async with new_client(timeout=_HTTP_TIMEOUT) as http:
        sources = SourceReader(catalog, http) if catalog is not None else None
        return await _rows(frame, chosen, output, sources, max_pixels)


async def _rows(
    frame: pl.DataFrame, chosen: list[str], output: Storage, sources: SourceReader | None, max_pixels: int
) -> list[GalleryRow]:
    # The catalog is read again only for rows whose source it held inline (the results show those in short).
    inline_ids = {str(row["row_id"]) for row in frame.iter_rows(named=True) if source_ref(str(row["source"])) is None}
    try:
        inline = await sources.inline_refs(inline_ids) if sources is not None else {}
    except CatalogError:
        inline = {}  # the catalog cannot be read now: rows with inline sources say so, the rest show
    rows = []
    for row_id in chosen:
        part = frame.filter(pl.col("row_id") == row_id).to_dicts()
        source, note = await _source(part[0], sources, inline, max_pixels)
        cells = tuple([await asyncio.to_thread(_cell, row, output, max_pixels) for row in part[:GALLERY_CELLS]])
        rows.append(GalleryRow(row_id, source, note, cells, more=max(0, len(part) - GALLERY_CELLS)))
    return rows


async def _source(
    row: dict[str, Any], sources: SourceReader | None, inline: dict[str, Any], max_pixels: int
) -> tuple[Thumb | None, str]:
    if sources is None:
        return None, "source not shown: report with the run's config to read sources under its policy"
    ref = source_ref(str(row["source"]))
    if ref is not None and ref.value.lower().startswith(("http://", "https://")):
        # Web sources are not fetched again for a thumbnail: a report sends no request to a catalog's hosts.
        return None, "source not shown: an http(s) source is not fetched again for the report"
    try:
        data = await sources.read(str(row["row_id"]), str(row["source"]), inline)
        return await asyncio.to_thread(make_thumbnail, data, max_pixels=max_pixels), ""
    except (InputError, OSError, ValueError) as error:
        return None, f"source not shown: {getattr(error, 'message', type(error).__name__)}"


def _cell(row: dict[str, Any], output: Storage, max_pixels: int) -> GalleryCell:
    image, note = None, ""
    if row.get("output_uri"):
        extension = str(row["output_uri"]).rsplit(".", 1)[-1]
        relative = image_path(str(row["variant"]), str(row["job_key"]), int(row["output_index"] or 0), extension)
        try:
            image = make_thumbnail(output.read_bytes(relative), max_pixels=max_pixels)
        except FileNotFoundError:
            note = "output missing"
        except (InputError, StorageError, OSError, ValueError) as error:
            note = f"output not shown: {getattr(error, 'message', type(error).__name__)}"
    return GalleryCell(
        variant=str(row["variant"]),
        provider=str(row["provider"]),
        model=str(row.get("model") or ""),
        seed=row.get("seed"),
        prompt=str(row.get("prompt") or ""),
        status=str(row["status"]),
        cost=row.get("cost"),
        credits=row.get("credits"),
        error=str(row.get("error_message") or ""),
        image=image,
        note=note,
    )
