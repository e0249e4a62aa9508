"""One planning pass feeding one stream of shards per provider; a stream that is behind waits on local disk.

Each provider runs as its own stream so a slow provider never starves a fast one. With a single pass
over the catalog, the fast provider's demand drives the pass, and the shards it plans for the slow
provider pile up: the first few wait in memory, the rest are spooled to a private temporary directory
and read back in order. Memory stays flat (a few shards per provider and one catalog batch) whatever the
catalog's size; the disk holds at most the slow providers' backlog.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from tasks.core.models import EditJob

__all__ = ["ShardStreams"]


class ShardStreams:
    """Per-provider streams of shards cut from one stream of jobs, planned only as shards are asked for.

    Use as a context manager (the spool directory is removed on exit)::

        with ShardStreams(planner.jobs(), ["local", "fashn.edit"], shard_size=250) as streams:
            shard = streams.next_shard("fashn.edit")

    Args:
        jobs: every provider's jobs, in plan order (consumed once, lazily).
        providers: the providers whose streams are asked for (every job's provider must be one).
        shard_size: jobs per shard.
        hold: shards of one provider kept in memory before the rest are spooled to disk.
        spool_dir: where the spool directory is made (default: the system's temporary directory).
    """

    def __init__(
        self,
        jobs: Iterable[EditJob],
        providers: Iterable[str],
        *,
        shard_size: int,
        hold: int = 2,
        spool_dir: str | Path | None = None,
    ) -> None:
        self._jobs: Iterator[EditJob] = iter(jobs)
        self._size = shard_size
        self._directory = Path(tempfile.mkdtemp(prefix="retouch-spool-", dir=spool_dir))
        names = sorted(set(providers))
        self._queues = {name: _ShardQueue(self._directory / f"{i}.spool", max(1, hold)) for i, name in enumerate(names)}
        self._building: dict[str, list[EditJob]] = {name: [] for name in self._queues}
        self._ended = False

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._queues)

    @property
    def ended(self) -> bool:
        """True once the pass over the jobs has ended (every shard is planned)."""
        return self._ended

    def next_shard(self, provider: str) -> list[EditJob] | None:
        """The provider's next shard, planning further only if none is waiting; None when its stream ended."""
        queue = self._queues[provider]
        while not queue and not self._ended:
            self._plan_one()
        return queue.pop() if queue else None

    def waiting(self, provider: str) -> tuple[int, int]:
        """Shards of `provider` planned and not yet taken: (in memory, on disk)."""
        queue = self._queues[provider]
        return len(queue.memory), queue.spooled

    def close(self) -> None:
        """Drop the spool (shards not taken are lost: the caller stopped asking for them)."""
        for queue in self._queues.values():
            queue.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _plan_one(self) -> None:
        job = next(self._jobs, None)
        if job is None:
            self._ended = True
            for provider, shard in self._building.items():
                if shard:
                    self._queues[provider].push(shard)
            return
        shard = self._building[job.provider]
        shard.append(job)
        if len(shard) >= self._size:
            self._queues[job.provider].push(shard)
            self._building[job.provider] = []


class _ShardQueue:
    """A FIFO of shards: the oldest `hold` in memory, the rest appended to a spool file and read back."""

    def __init__(self, path: Path, hold: int) -> None:
        self.memory: deque[list[EditJob]] = deque()
        self.spooled = 0
        self._path = path
        self._hold = hold
        self._file: IO[bytes] | None = None
        self._read_at = 0
        self._write_at = 0

    def __len__(self) -> int:
        return len(self.memory) + self.spooled

    def push(self, shard: list[EditJob]) -> None:
        if not self.spooled and len(self.memory) < self._hold:
            self.memory.append(shard)
            return
        spool = self._open()
        spool.seek(self._write_at)
        pickle.dump(shard, spool, protocol=pickle.HIGHEST_PROTOCOL)
        self._write_at = spool.tell()
        self.spooled += 1

    def pop(self) -> list[EditJob]:
        shard = self.memory.popleft()
        if self.spooled:
            self.memory.append(self._read())
        return shard

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read(self) -> list[EditJob]:
        spool = self._open()
        spool.seek(self._read_at)
        # Unpickling is safe here: the file is this process's own, in a directory only its user can read.
        shard: list[EditJob] = pickle.load(spool)
        self._read_at = spool.tell()
        self.spooled -= 1
        if not self.spooled:  # caught up: start the file over rather than let it grow for the whole run
            spool.seek(0)
            spool.truncate()
            self._read_at = self._write_at = 0
        return shard

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self._file = self._path.open("w+b")
        return self._file
