"""The catalog's version without reading it: each file's path, size and etag/mtime, from one `info` per file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fsspec
from pydantic import BaseModel, ConfigDict

from tasks.core.config import CatalogConfig
from tasks.core.errors import CatalogError

__all__ = ["CatalogFile", "CatalogVersion", "catalog_version"]

# What fsspec backends call a file's content version, strongest first: s3fs/adlfs give ETag, gcsfs md5Hash
# and generation, local and memory give mtime or created. Size is kept beside it in every case.
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified", "last_modified", "created")


class CatalogFile(BaseModel):
    """One Parquet file of the catalog: its path, size and whatever version token its filesystem gives."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    token: str | None


class CatalogVersion(BaseModel):
    """What a refresh compares to the last run's: equal `files` mean the catalog's bytes did not change.

    A file rewritten in place gets a new etag or mtime; rows appended in a new file add a file; either way
    the files differ. `rows` is the rows the run read (after the filter and limit), for people and the
    schedule forecast; None until a pass has counted them.
    """

    model_config = ConfigDict(frozen=True)

    files: tuple[CatalogFile, ...]
    rows: int | None = None

    def same_files(self, other: CatalogVersion | None) -> bool:
        """True when `other` saw the very same files (rows are not compared: they come from a pass)."""
        return other is not None and other.files == self.files


def catalog_version(config: CatalogConfig) -> CatalogVersion:
    """The catalog's files as they are now: one listing and one `info` per file; no file is opened.

    Raises:
        CatalogError: the catalog cannot be listed (the message names catalog.uri).
    """
    try:
        fs, path = fsspec.core.url_to_fs(config.uri, **config.storage_options)
        paths = _files(fs, path)
        if not paths:
            raise FileNotFoundError(config.uri)
        files = tuple(_file(path, fs.info(path)) for path in paths)
    except FileNotFoundError:
        raise CatalogError(f"catalog {config.uri} does not exist (catalog.uri)", column="catalog.uri") from None
    except Exception as error:  # fsspec and pyarrow raise many types for unreadable input
        raise CatalogError(f"cannot list catalog {config.uri}: {error}", column="catalog.uri") from None
    return CatalogVersion(files=files)


def _files(fs: Any, path: str) -> list[str]:
    """The catalog's Parquet files, as the catalog reader opens them (a folder, a glob or one file)."""
    if fs.isdir(path):
        # pyarrow's discovery skips names starting with "." or "_" (_SUCCESS, .crc): so does the version
        return sorted(name for name in fs.find(path) if not name.rsplit("/", 1)[-1].startswith((".", "_")))
    if any(ch in path for ch in "*?["):
        return sorted(fs.glob(path))
    return [path] if fs.exists(path) else []


def _file(path: str, info: Mapping[str, Any]) -> CatalogFile:
    token = next((str(info[key]) for key in _VERSION_KEYS if info.get(key) is not None), None)
    return CatalogFile(path=path, size=int(info.get("size") or 0), token=token)
