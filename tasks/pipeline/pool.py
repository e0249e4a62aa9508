"""Worker-process pools for CPU-bound edits, leased by the shards that run at once in this process."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.context import BaseContext

__all__ = ["PROCESS_POOLS", "WorkerPools"]

# Imported once by the fork server, so each worker it forks starts with the engine loaded (a spawned worker
# would import it again: about a second on a busy 2-core machine, paid by every run).
_PRELOAD = ["tasks.pipeline.local_work"]


@dataclass
class _Shared:
    pool: ProcessPoolExecutor
    leases: int = 0


class WorkerPools:
    """Process pools by size, shared by the shards that run at the same time in this process.

    A shard leases the pool its adapter asks for: the first lease starts it, the last one returned shuts
    it down, so no worker process outlives the shards that use it and nothing waits for interpreter exit.
    Shards running side by side share one pool rather than each starting its own (which would put
    `workers` processes per shard on the same cores).

    Args:
        context: how workers start. Forked from a fork server by default (spawned where there is none),
            never from this process: forking a process that runs Prefect's threads can deadlock.
    """

    def __init__(self, context: BaseContext | None = None) -> None:
        self._context = context or _default_context()
        self._lock = threading.Lock()
        self._shared: dict[int, _Shared] = {}

    @contextmanager
    def lease(self, workers: int) -> Iterator[Executor | None]:
        """The pool of `workers` processes for the `with` block; None when `workers` is 0 (use threads).

        Raises:
            ValueError: `workers` is negative.
        """
        if workers < 0:
            raise ValueError(f"workers={workers!r}: use a whole number >= 0")
        if workers == 0 or multiprocessing.current_process().daemon:
            yield None  # a daemonic process (a Dask worker) may not start processes: edit in threads
            return
        shared = self._acquire(workers)
        try:
            yield shared.pool
        finally:
            self._release(workers, shared)

    def in_use(self) -> dict[int, int]:
        """The pools running now: their size -> how many leases hold each."""
        with self._lock:
            return {workers: shared.leases for workers, shared in self._shared.items()}

    def renew(self, workers: int, broken: Executor) -> Executor:
        """A working pool of `workers` in place of `broken`, one of whose processes died (the leases stay).

        Every shard leasing the pool gets the same new one, however many of them ask.

        Raises:
            ValueError: no pool of that size is leased.
        """
        with self._lock:
            shared = self._shared.get(workers)
            if shared is None:
                raise ValueError(f"no pool of {workers} workers is leased: lease one first")
            if shared.pool is broken:
                shared.pool = self._new(workers)
            pool = shared.pool
        broken.shutdown(wait=False, cancel_futures=True)
        return pool

    def pids(self) -> list[int]:
        """The process ids of every worker running now (for a person, or a test, to look at)."""
        with self._lock:
            pools = [shared.pool for shared in self._shared.values()]
        return sorted(pid for pool in pools for pid in list(pool._processes or {}))

    def _new(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=self._context)

    def _acquire(self, workers: int) -> _Shared:
        with self._lock:
            shared = self._shared.get(workers)
            if shared is None:
                shared = self._shared[workers] = _Shared(self._new(workers))
            shared.leases += 1
            return shared

    def _release(self, workers: int, shared: _Shared) -> None:
        with self._lock:
            shared.leases -= 1
            if shared.leases:
                return
            del self._shared[workers]
        # Outside the lock: joining the workers must not hold up shards leasing other pools. Every edit of
        # the leasing shards has finished, so nothing is cancelled that anyone waits for.
        shared.pool.shutdown(wait=True, cancel_futures=True)


def _default_context() -> BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


# The pools of this process, shared by every shard of every run in it (like the executor's limiters).
PROCESS_POOLS = WorkerPools()
