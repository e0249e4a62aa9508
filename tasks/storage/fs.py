"""One fsspec location (local path, file://, memory://, s3://, ...) with atomic writes under it."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from tasks.core.errors import StorageError

__all__ = ["Storage"]

# Temporary names: unique per process (a random token) and per write in it (a counter), without the
# urandom read of a uuid4 per file. itertools.count is atomic under the GIL, so threads share it.
_PROCESS_TOKEN = uuid.uuid4().hex[:12]
_WRITES = itertools.count()
# os.open rather than open(): a local write is then open, write, close, without the fstat, the isatty
# ioctl and the buffered file object that open() adds to every small file.
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_APPEND_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class Storage:
    """A root URL plus storage options; every path argument is relative to the root.

    Args:
        uri: local path or fsspec URL of the root.
        storage_options: passed to fsspec (endpoint, credentials, ...). Never logged.
    """

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = uri.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.uri, **(storage_options or {}))
        except (ImportError, ValueError) as error:
            raise StorageError(f"cannot open storage {self.uri!r}: {error}", uri=self.uri) from None
        self.root = root.rstrip("/")
        # Only the plain local filesystem takes the os fast path: a subclass (a wrapper, a test's
        # failing filesystem) may change how writes behave, so it is used through its own methods.
        self.is_local = type(self.fs) is LocalFileSystem
        self._made_dirs: set[str] = set()

    def url(self, relative: str) -> str:
        """The full URL (or absolute local path) of a relative path, as users will open it."""
        if self.is_local:
            return os.path.join(self.root, relative)
        return f"{self.uri}/{relative}"

    def path(self, relative: str) -> str:
        """The path of `relative` as the filesystem object understands it."""
        return f"{self.root}/{relative}" if relative else self.root

    def write_bytes(self, relative: str, data: bytes, *, atomic: bool = True) -> str:
        """Write atomically: a reader sees the old object, or the whole new one, never half.

        Local files go to a temporary name in the same directory and are renamed (a failed write removes
        its temporary file); object stores get a single PUT, which is atomic there. Returns the URL.

        Args:
            atomic: False writes a local file in place, which costs a third of the rename; only for
                records whose reader treats a torn file as present (the journal's intents).

        Raises:
            StorageError: the write failed; nothing new is left under the root.
        """
        target = self.path(relative)
        try:
            if self.is_local:
                self._write_local(target, data, atomic=atomic)
            else:
                self.fs.pipe_file(target, data)
        except OSError as error:
            raise StorageError(f"cannot write {self.url(relative)}: {error}", uri=self.url(relative)) from None
        return self.url(relative)

    def _write_local(self, target: str, data: bytes, *, atomic: bool) -> None:
        directory = os.path.dirname(target)
        if directory not in self._made_dirs:  # one makedirs per folder, not per image
            os.makedirs(directory, exist_ok=True)
            self._made_dirs.add(directory)
        if not atomic:
            try:
                _write_file(target, data)
            except OSError:
                with contextlib.suppress(OSError):
                    os.remove(target)  # a torn record would only mislead its reader
                raise
            return
        temporary = os.path.join(directory, f".{os.path.basename(target)}.{_PROCESS_TOKEN}{next(_WRITES)}.tmp")
        # No fsync: the rename makes the write atomic for readers and survives a killed process;
        # fsync would add only power-loss durability at a cost of milliseconds per image.
        try:
            _write_file(temporary, data)
            os.replace(temporary, target)
        except OSError:
            # A full or failing disk: leave no zero-byte temp file behind for every failed attempt.
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise

    def append_local(self, relative: str, data: bytes) -> None:
        """Append to a local file, creating it if missing: no new inode, no rename (a tenth of a write).

        Not atomic: a write cut short leaves a partial tail, so what is appended must carry its own framing.

        Raises:
            StorageError: the write failed, or the storage is not local (object stores have no append).
        """
        target = self.path(relative)
        try:
            if not self.is_local:
                raise OSError("appending needs a local filesystem")
            descriptor = os.open(target, _APPEND_FLAGS, 0o666)
            try:
                _write_all(descriptor, data)
            finally:
                os.close(descriptor)
        except OSError as error:
            raise StorageError(f"cannot append to {self.url(relative)}: {error}", uri=self.url(relative)) from None

    @contextmanager
    def open_write(self, relative: str) -> Iterator[IO[bytes]]:
        """Stream a large object atomically: written under a hidden temporary name, renamed when whole.

        For objects too big to hold in memory (export shards). On an error the temporary is removed
        and nothing appears under `relative`.

        Raises:
            StorageError: the object could not be written or moved into place.
        """
        target = self.path(relative)
        directory, base = target.rsplit("/", 1) if "/" in target else ("", target)
        temporary = f"{directory}/.{base}.{uuid.uuid4().hex}.tmp" if directory else f".{base}.{uuid.uuid4().hex}.tmp"
        try:
            if directory:
                self.fs.makedirs(directory, exist_ok=True)
            with self.fs.open(temporary, "wb") as handle:
                yield handle
            self.fs.mv(temporary, target)
        except OSError as error:
            raise StorageError(f"cannot write {self.url(relative)}: {error}", uri=self.url(relative)) from None
        finally:
            if self.fs.exists(temporary):
                self.fs.rm_file(temporary)

    def read_bytes(self, relative: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self.path(relative)))
        except FileNotFoundError:
            raise
        except OSError as error:
            raise StorageError(f"cannot read {self.url(relative)}: {error}", uri=self.url(relative)) from None

    def exists(self, relative: str) -> bool:
        return bool(self.fs.exists(self.path(relative)))

    def delete(self, relative: str) -> None:
        """Remove one file; a missing one is not an error.

        Raises:
            StorageError: the file exists and could not be removed.
        """
        try:
            if self.is_local:
                os.remove(self.path(relative))
            else:
                self.fs.rm_file(self.path(relative))
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StorageError(f"cannot delete {self.url(relative)}: {error}", uri=self.url(relative)) from None

    def list(self, relative: str, suffix: str = "") -> list[str]:
        """Relative paths of the files directly under `relative` ending in `suffix`, sorted."""
        directory = self.path(relative)
        try:
            if not self.fs.exists(directory):
                return []
            names = self.fs.ls(directory, detail=False)
        except FileNotFoundError:
            return []
        prefix = self.root + "/" if self.root else ""
        found = []
        for name in names:
            name = str(name).rstrip("/")
            base = name.rsplit("/", 1)[-1]
            if base.endswith(suffix) and not base.startswith("."):
                found.append(name[len(prefix) :] if name.startswith(prefix) else f"{relative}/{base}")
        return sorted(found)


def _write_file(path: str, data: bytes) -> None:
    """Write all of `data` to a new (or truncated) local file."""
    descriptor = os.open(path, _WRITE_FLAGS, 0o666)
    try:
        _write_all(descriptor, data)
    finally:
        os.close(descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
