"""Can a run write its output? An atomic create and delete of a probe object, before anything is sent."""

from __future__ import annotations

import os
from typing import Any

from tasks.core.errors import StorageError
from tasks.storage.fs import Storage
from tasks.storage.layout import probe_path

__all__ = ["check_writable"]


def check_writable(uri: str, storage_options: dict[str, Any] | None = None) -> None:
    """Write a probe object under `uri` and delete it; nothing is left behind.

    A local folder that does not exist yet is not created: its nearest existing parent is probed instead
    (the run creates the folder there), so checking leaves the file system as it found it.

    Raises:
        StorageError: the output cannot be written (names `output.uri` and what the system said).
    """
    storage = Storage(uri, storage_options)
    if storage.is_local:
        _probe_folder(_nearest_folder(storage.root), uri)
        return
    probe = probe_path()
    try:
        storage.write_bytes(probe, b"")
        storage.fs.rm_file(storage.path(probe))
    except (StorageError, OSError) as error:
        raise StorageError(f"output.uri {uri} cannot be written: {_reason(error)}", uri=uri) from None


def _nearest_folder(path: str) -> str:
    """`path` or its nearest ancestor that exists (a file there is reported by the probe itself)."""
    current = os.path.abspath(path)
    while not os.path.lexists(current) and os.path.dirname(current) != current:
        current = os.path.dirname(current)
    return current


def _probe_folder(folder: str, uri: str) -> None:
    if not os.path.isdir(folder):
        raise StorageError(f"output.uri {uri} cannot be written: {folder} is a file, not a folder", uri=uri)
    probe = os.path.join(folder, probe_path())
    try:
        # O_EXCL: the probe never replaces anything; the name is fresh anyway.
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        where = "" if folder == os.path.abspath(uri) else f" (its nearest existing folder is {folder})"
        raise StorageError(f"output.uri {uri} cannot be written{where}: {_reason(error)}", uri=uri) from None


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
