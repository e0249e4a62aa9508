"""The source policy: which image references a catalog may read. Default-deny.

A reference is read only when it resolves inside the catalog's own folder (or bucket prefix) or under
an entry of `catalog.sources.allow`. Local paths are resolved (symlinks, `..`) before the check, so a
link that leaves the folder is refused; `file://` and /proc, /dev, /sys, /run are never read. HTTP(S)
URLs must match an allow entry; an entry that names a host also trusts that host on internal addresses
(the guarded fetch checks every other hop's address). Data URIs and binary cells are the catalog's own.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

import fsspec
import httpx

from tasks.core.config import CatalogConfig
from tasks.core.errors import SourceError, SourceRefused
from tasks.core.models import ImageRef
from tasks.core.sources_config import NEVER_READ, SourcesConfig
from tasks.http.guarded import origin_of

__all__ = ["Allowed", "SourcePolicy", "catalog_root"]

_GLOB = "*?["


@dataclass(frozen=True)
class Allowed:
    """A reference the policy lets through: how to read it and from where."""

    how: Literal["file", "fsspec", "http", "inline"]
    location: str  # the resolved path, the normalized URL, or the reference itself (inline)


@dataclass(frozen=True)
class _UrlPrefix:
    scheme: str
    host: str | None  # None: any host of the scheme, on public addresses only
    port: int | None
    path: str


class SourcePolicy:
    """Decides, before any byte is read, whether a reference may be read.

    Args:
        config: the `catalog.sources` section.
        root: the catalog's folder (local path) or prefix (fsspec URL); relative references live here.
    """

    def __init__(self, config: SourcesConfig, *, root: str) -> None:
        self.config = config
        self.root = _local_real(root) if "://" not in root else _normalize_url(root)
        self._folders = [_local_real(entry) for entry in config.allow if "://" not in entry]
        self._prefixes = [_normalize_url(entry) for entry in config.allow if "://" in entry and not _is_http(entry)]
        self._web = [_url_prefix(entry) for entry in config.allow if _is_http(entry)]
        self._real_folders: dict[str, str] = {}

    @classmethod
    def for_catalog(cls, catalog: CatalogConfig) -> SourcePolicy:
        """The policy of a catalog section: its `sources` and the folder its `uri` sits in."""
        return cls(catalog.sources, root=catalog_root(catalog.uri, catalog.storage_options))

    def check(self, ref: ImageRef) -> Allowed:
        """Where `ref` may be read from.

        Raises:
            SourceRefused: the policy does not allow it (the message says which entry would).
            SourceError: a local file that does not exist.
        """
        if ref.kind in ("data", "bytes"):
            return Allowed("inline", ref.value)
        if ref.kind == "path":
            return Allowed("file", self._check_file(ref.value))
        scheme = ref.value.split("://", 1)[0].lower()
        if scheme in ("file", "local"):
            raise SourceRefused(
                f"uses {scheme}://, which is never read; use a path inside the catalog's folder or list its folder"
            )
        if scheme in ("http", "https"):
            return Allowed("http", self._check_web(ref.value))
        return Allowed("fsspec", self._check_object(ref.value))

    def trusted(self, url: httpx.URL) -> bool:
        """True when an allow entry names `url`'s host: it may then sit on a private or loopback address."""
        scheme, host, port = origin_of(url)
        return any(
            prefix.host == host and prefix.scheme == scheme and prefix.port == port and _under(url.path, prefix.path)
            for prefix in self._web
        )

    def _check_file(self, path: str) -> str:
        real = self._resolve(path)
        for candidate in (real, os.path.abspath(path)):
            for never in NEVER_READ:
                if _under(candidate, never):
                    raise SourceRefused(f"is under {never}, which is never read (process and device files)")
        if not (_under(real, self.root) or any(_under(real, folder) for folder in self._folders)):
            why = "resolves (through a link or ..) to a place" if real != os.path.abspath(path) else "is"
            raise SourceRefused(
                f"{why} outside the catalog's folder {self.root}; list its folder in catalog.sources.allow to read it"
            )
        try:
            mode = os.lstat(real).st_mode  # `real` has no link left in it: lstat and stat agree
        except FileNotFoundError:
            raise SourceError("does not exist") from None
        except OSError as error:
            raise SourceError(f"cannot be read ({type(error).__name__})") from None
        if not stat.S_ISREG(mode):
            raise SourceRefused("is not a regular file (a folder, device, pipe or socket)")
        return real

    def _resolve(self, path: str) -> str:
        """`os.path.realpath`, with each folder resolved once per policy: a catalog has few folders and many
        files, and every component costs an lstat. The file itself is checked each time."""
        absolute = os.path.abspath(path)
        folder, name = os.path.split(absolute)
        real_folder = self._real_folders.get(folder)
        if real_folder is None:
            real_folder = self._real_folders[folder] = os.path.realpath(folder)
        try:
            is_link = stat.S_ISLNK(os.lstat(os.path.join(real_folder, name)).st_mode)
        except OSError:
            is_link = False  # missing: the existence check after the policy check says so
        return os.path.realpath(absolute) if is_link else os.path.join(real_folder, name)

    def _check_object(self, url: str) -> str:
        normalized = _normalize_url(url)
        if not (_under(normalized, self.root) or any(_under(normalized, prefix) for prefix in self._prefixes)):
            raise SourceRefused(
                f"is outside the catalog's prefix {self.root} and catalog.sources.allow; list its prefix there"
            )
        return normalized

    def _check_web(self, url: str) -> str:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise SourceRefused("is not a valid URL") from None
        if ".." in unquote(parsed.path).split("/"):
            raise SourceRefused("has a '..' segment in its path")
        scheme, host, port = origin_of(parsed)
        for prefix in self._web:
            if prefix.scheme != scheme or (prefix.host is not None and (prefix.host, prefix.port) != (host, port)):
                continue
            if _under(parsed.path, prefix.path):
                return str(parsed)
        raise SourceRefused(
            f"is on {scheme}://{host}, which catalog.sources.allow does not list (e.g. '{scheme}://{host}/' or "
            f"'{scheme}://' for any public host)"
        )


def catalog_root(uri: str, storage_options: dict[str, object] | None = None) -> str:
    """The folder (or object prefix) a catalog `uri` sits in: the uri itself when it is a folder."""
    head = uri
    if any(ch in uri for ch in _GLOB):
        head = uri[: min(uri.index(ch) for ch in _GLOB if ch in uri)].rsplit("/", 1)[0]
        return head or "."
    if "://" not in uri:
        return uri if os.path.isdir(uri) else (os.path.dirname(uri) or ".")
    fs, path = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    return uri if fs.isdir(path) else uri.rsplit("/", 1)[0]


def _local_real(path: str) -> str:
    return os.path.realpath(path.removeprefix("file://"))


def _normalize_url(url: str) -> str:
    protocol, _, rest = url.partition("://")
    if rest.startswith("/"):  # a filesystem whose paths are absolute (memory:///x, file-like protocols)
        path = "/" + posixpath.normpath(rest).lstrip("/")
    else:  # bucket/key: `..` may not climb above the bucket
        path = posixpath.normpath("/" + rest).lstrip("/") if rest else ""
    return f"{protocol.lower()}://{path}"


def _is_http(entry: str) -> bool:
    return entry.lower().startswith(("http://", "https://"))


def _url_prefix(entry: str) -> _UrlPrefix:
    parts = urlsplit(entry)
    if not parts.netloc:
        return _UrlPrefix(parts.scheme.lower(), None, None, "/")
    _, host, port = origin_of(entry)
    return _UrlPrefix(parts.scheme.lower(), host, port, parts.path or "/")


def _under(path: str, folder: str) -> bool:
    """True when `path` is `folder` or inside it (at a "/" boundary: /data/img does not hold /data/img2)."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/") or not folder
