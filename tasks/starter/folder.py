"""A folder of images (local or fsspec) as catalog rows: id from the relative file name, image, prompt."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl

from tasks.core.errors import CatalogError

__all__ = ["IMAGE_SUFFIXES", "ImageFile", "folder_catalog", "list_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageFile:
    """One image of the folder: its name relative to the folder (with `/`), and how the catalog refers to it."""

    relative: str
    reference: str


def list_images(folder: str, catalog_dir: str, storage_options: dict[str, Any] | None = None) -> list[ImageFile]:
    """Every image under `folder` (recursively, hidden files and folders left out), sorted by name.

    Args:
        folder: a local path or fsspec URL.
        catalog_dir: where the catalog will be written; local images are referred to relative to it
            (the pipeline resolves relative paths from the catalog's folder), remote ones by full URL.

    Raises:
        CatalogError: the folder is missing or holds no image.
    """
    fs, root = fsspec.core.url_to_fs(folder, **(storage_options or {}))
    root = root.rstrip("/")
    if not fs.isdir(root):
        raise CatalogError(f"{folder} is not a folder (or a .parquet/.csv/.jsonl catalog)", column="SOURCE")
    files = []
    for path in sorted(str(name) for name in fs.find(root)):
        relative = path[len(root) :].lstrip("/")
        if relative.lower().endswith(IMAGE_SUFFIXES) and not any(part.startswith(".") for part in relative.split("/")):
            files.append(ImageFile(relative, _reference(folder, relative, catalog_dir)))
    if not files:
        raise CatalogError(f"{folder} holds no image ({', '.join(IMAGE_SUFFIXES)})", column="SOURCE")
    return files


def folder_catalog(files: list[ImageFile], prompts: list[str]) -> pl.DataFrame:
    """The catalog of a folder: `id` (relative name without its extension, unless two names share a stem),
    `image`, `file` (the relative name) and `prompt`."""
    stems = [posixpath.splitext(item.relative)[0] for item in files]
    repeated = {stem for stem in stems if stems.count(stem) > 1} if len(set(stems)) < len(stems) else set()
    ids = [item.relative if stem in repeated else stem for item, stem in zip(files, stems, strict=True)]
    return pl.DataFrame(
        {
            "id": ids,
            "image": [item.reference for item in files],
            "file": [item.relative for item in files],
            "prompt": prompts,
        }
    )


def _reference(folder: str, relative: str, catalog_dir: str) -> str:
    if "://" in folder and not folder.startswith("file://"):
        return f"{folder.rstrip('/')}/{relative}"
    local = folder.removeprefix("file://")
    absolute = os.path.abspath(os.path.join(local, *relative.split("/")))
    return os.path.relpath(absolute, os.path.abspath(catalog_dir)).replace(os.sep, "/")
