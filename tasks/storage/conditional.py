"""Conditional writes on one object: create it only if absent, replace or delete it only if unchanged.

Three kinds, chosen by the filesystem under a `Storage`:

- local paths: every operation holds an exclusive `flock` on the object's folder (so a check and its
  write are one step for every retouch process on the machine), creates with `O_CREAT | O_EXCL`,
  replaces by writing a temp file and renaming it. The version is a hash of the bytes. `flock` is
  not reliable over NFS.
- S3 (s3fs): `PutObject` with `If-None-Match: *` to create and `If-Match: <etag>` to replace, so
  the store itself refuses a lost race (AWS S3 and moto's server both answer 412). The version is the ETag.
- any other fsspec filesystem: `pipe_file(mode="create")` where the backend offers it, and a
  read-compare-write otherwise; `atomic` is False and callers say so. Safe within one process only.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from fsspec.asyn import sync

from tasks.core.errors import StorageError
from tasks.storage.fs import Storage

__all__ = ["ConditionalObject", "Versioned", "conditional_object"]


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the version a conditional replace or delete must name."""

    data: bytes
    version: str


class ConditionalObject(ABC):
    """One object under a storage root, written only on a condition.

    Raises (every method): StorageError when the store cannot be reached or refuses for another reason.
    """

    # True when the conditions hold against other processes and hosts, not only this process.
    atomic: ClassVar[bool] = True

    def __init__(self, storage: Storage, relative: str) -> None:
        self.storage = storage
        self.relative = relative
        self.path = storage.path(relative)

    @abstractmethod
    def read(self) -> Versioned | None:
        """The object and its version, or None when it does not exist."""

    @abstractmethod
    def create(self, data: bytes) -> str | None:
        """Write `data` only if the object does not exist; its new version, or None if it existed."""

    @abstractmethod
    def replace(self, data: bytes, version: str) -> str | None:
        """Overwrite only if the object is still at `version`; the new version, or None if it changed."""

    @abstractmethod
    def delete(self, version: str) -> bool:
        """Delete only if the object is still at `version`; False if it changed or is gone."""

    def _failed(self, action: str, error: BaseException) -> StorageError:
        url = self.storage.url(self.relative)
        return StorageError(f"cannot {action} {url}: {error}", uri=url)


def conditional_object(storage: Storage, relative: str) -> ConditionalObject:
    """The conditional-write flavour that fits `storage`'s filesystem (see the module docstring)."""
    if storage.is_local:
        return _LocalObject(storage, relative)
    if "s3" in _protocols(storage.fs) and hasattr(storage.fs, "_call_s3"):
        return _S3Object(storage, relative)
    return _GenericObject(storage, relative)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _LocalObject(ConditionalObject):
    @contextmanager
    def _locked(self) -> Iterator[None]:
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            handle = os.open(folder, os.O_RDONLY)
        except OSError as error:
            raise self._failed("lock the folder of", error) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the descriptor closes, also if we crash
            yield
        finally:
            os.close(handle)

    def _current(self) -> Versioned | None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._failed("read", error) from None
        return Versioned(data, _digest(data))

    def read(self) -> Versioned | None:
        with self._locked():
            return self._current()

    def create(self, data: bytes) -> str | None:
        with self._locked():
            try:
                handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return None
            except OSError as error:
                raise self._failed("create", error) from None
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())  # a lease must survive the machine, not only the process
            return _digest(data)

    def replace(self, data: bytes, version: str) -> str | None:
        with self._locked():
            current = self._current()
            if current is None or current.version != version:
                return None
            folder, name = os.path.split(self.path)
            temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
            try:
                with open(temporary, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self.path)
            except OSError as error:
                _remove_quietly(temporary)
                raise self._failed("replace", error) from None
            return _digest(data)

    def delete(self, version: str) -> bool:
        with self._locked():
            current = self._current()
            if current is None or current.version != version:
                return False
            try:
                os.unlink(self.path)
            except OSError as error:
                raise self._failed("delete", error) from None
            return True


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _S3Object(ConditionalObject):
    def __init__(self, storage: Storage, relative: str) -> None:
        super().__init__(storage, relative)
        self.fs: Any = storage.fs
        self.bucket, self.key, _ = self.fs.split_path(self.path)

    def read(self) -> Versioned | None:
        try:
            return sync(self.fs.loop, self._get)  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._failed("read", error) from None

    async def _get(self) -> Versioned:
        reply = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key)
        body = reply["Body"]
        try:
            data = await body.read()
        finally:
            body.close()
        return Versioned(bytes(data), str(reply["ETag"]))

    def create(self, data: bytes) -> str | None:
        return self._put(data, IfNoneMatch="*")

    def replace(self, data: bytes, version: str) -> str | None:
        return self._put(data, IfMatch=version)

    def delete(self, version: str) -> bool:
        try:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=version)
        except FileNotFoundError:
            return False
        except OSError as error:
            if _precondition_failed(error):
                return False
            raise self._failed("delete", error) from None
        self.fs.invalidate_cache(self.path)
        return True

    def _put(self, data: bytes, **condition: str) -> str | None:
        try:
            reply = self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=data, **condition)
        except FileExistsError:  # s3fs's name for 412 on If-None-Match
            return None
        except FileNotFoundError:  # If-Match on an object that is gone
            return None
        except OSError as error:
            if _precondition_failed(error):
                return None
            raise self._failed("write", error) from None
        self.fs.invalidate_cache(self.path)
        return str(reply["ETag"])


def _precondition_failed(error: OSError) -> bool:
    # s3fs maps botocore's ClientError into OSError and keeps it as the cause; its error code is data.
    response = getattr(error.__cause__, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("PreconditionFailed", "ConditionalRequestConflict", "412")


class _GenericObject(ConditionalObject):
    """Best effort: atomic create where the backend has `pipe_file(mode="create")`, else check-then-write."""

    atomic: ClassVar[bool] = False
    # Serialises this process's own check-then-write steps (other processes are not covered).
    _lock = threading.Lock()

    def read(self) -> Versioned | None:
        try:
            data = self.storage.read_bytes(self.relative)
        except FileNotFoundError:
            return None
        return Versioned(data, _digest(data))

    def create(self, data: bytes) -> str | None:
        with self._lock:
            try:
                self.storage.fs.pipe_file(self.path, data, mode="create")
            except FileExistsError:
                return None
            except OSError as error:
                raise self._failed("create", error) from None
            return _digest(data)

    def replace(self, data: bytes, version: str) -> str | None:
        with self._lock:
            current = self.read()
            if current is None or current.version != version:
                return None
            self.storage.write_bytes(self.relative, data)
            return _digest(data)

    def delete(self, version: str) -> bool:
        with self._lock:
            current = self.read()
            if current is None or current.version != version:
                return False
            self.storage.delete(self.relative)
            return True
