"""Shard files of one split: `data/<split>-00000.<ext>`, a new one every N rows or bytes, each written atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.exports.loading import ExportRecord
from tasks.storage.fs import Storage

__all__ = ["DATA_DIR", "ParquetShard", "ShardFile", "ShardFormat", "ShardSink", "shard_path"]

DATA_DIR = "data"


class ShardFile(Protocol):
    """An open shard: takes batches of records, then is closed once."""

    def write(self, records: Sequence[ExportRecord]) -> None: ...

    def close(self) -> None: ...


class ShardFormat(Protocol):
    """A file format for shards: its extension, and how a shard is started in an open binary handle."""

    extension: str

    def open(self, handle: IO[bytes]) -> ShardFile: ...


class ParquetShard:
    """A Parquet shard: one row group per batch, so memory holds one batch of images."""

    def __init__(self, writer: pq.ParquetWriter, table: Callable[[Sequence[ExportRecord]], pa.Table]) -> None:
        self._writer = writer
        self._table = table

    def write(self, records: Sequence[ExportRecord]) -> None:
        self._writer.write_table(self._table(records))

    def close(self) -> None:
        self._writer.close()


def shard_path(split: str, index: int, extension: str) -> str:
    """Where shard `index` of `split` goes, relative to the export root."""
    return f"{DATA_DIR}/{split}-{index:05d}.{extension}"


class ShardSink:
    """Writes one split's records into shards, starting a new shard at `shard_size` rows or `shard_bytes`.

    Use as a context manager: on an error the shard being written is discarded (its temporary removed),
    while shards already closed stay whole.
    """

    def __init__(self, storage: Storage, fmt: ShardFormat, split: str, *, shard_size: int, shard_bytes: int) -> None:
        self._storage, self._format, self._split = storage, fmt, split
        self._shard_size, self._shard_bytes = shard_size, shard_bytes
        self._target: AbstractContextManager[IO[bytes]] | None = None
        self._file: ShardFile | None = None
        self._rows = self._bytes = 0
        self.files: list[str] = []

    def __enter__(self) -> ShardSink:
        return self

    def write(self, records: Sequence[ExportRecord]) -> None:
        """Append records, closing and starting shards as they fill."""
        for chunk in self._chunks(records):
            if self._file is None:
                self._start()
            assert self._file is not None
            self._file.write(chunk)
            self._rows += len(chunk)
            self._bytes += sum(len(r.source) + len(r.edited or b"") for r in chunk)
            if self._rows >= self._shard_size or self._bytes >= self._shard_bytes:
                self._finish(None, None, None)

    def _chunks(self, records: Sequence[ExportRecord]) -> Iterator[Sequence[ExportRecord]]:
        start = 0
        while start < len(records):
            room = self._shard_size - self._rows if self._file is not None else self._shard_size
            yield records[start : start + room]
            start += room

    def _start(self) -> None:
        relative = shard_path(self._split, len(self.files), self._format.extension)
        self._target = self._storage.open_write(relative)
        self._file = self._format.open(self._target.__enter__())
        self._rows = self._bytes = 0
        self.files.append(relative)

    def _finish(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if self._file is not None and self._target is not None:
            target, shard, self._file, self._target = self._target, self._file, None, None
            if kind is None:
                shard.close()
            target.__exit__(kind, error, trace)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._finish(kind, error, trace)
