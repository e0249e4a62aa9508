"""Make results durable as a run goes: buffered rows flushed as atomic Parquet parts (the write retried, never
the job), and the journal entries (`pending/<job_key>.json`) removed only once a job's rows are durable."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa

from tasks.core.errors import StorageError
from tasks.core.models import Accepted, EditJob, EditResult
from tasks.costs.ledger import write_ledger_part
from tasks.http import Clock, RetryPolicy, SystemClock
from tasks.pipeline.journal import Journal, read_journal
from tasks.pipeline.writes import StorageGuard, retry_write
from tasks.storage.fs import Storage
from tasks.storage.layout import pending_path
from tasks.storage.results import write_results_part

__all__ = ["Checkpointer", "prune_pending", "read_pending"]


def read_pending(storage: Storage) -> dict[str, Accepted]:
    """Async jobs accepted by earlier runs whose results were never made durable, by job key."""
    return read_journal(storage).accepted


def prune_pending(storage: Storage, pending: dict[str, Accepted], done: set[str]) -> dict[str, Accepted]:
    """Drop journal entries of jobs whose results are already durable (a crash between writing a part
    and clearing its entries leaves them); returns the entries still worth polling."""
    for key in [key for key in pending if key in done]:
        storage.delete(pending_path(key))
        del pending[key]
    return pending


class Checkpointer:
    """Buffers results and writes them as one part every `every_seconds` or `every_rows`.

    A failed write is retried with backoff (`retry`); once it gives up, the rows stay buffered, the guard
    is tripped, and `take_buffer` hands them to the caller to spool. A crash loses at most the buffered
    window, and the journal says what happened to each of those jobs (see `journal.py`).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        run_id: str,
        every_seconds: float,
        every_rows: int,
        clock: Clock | None = None,
        journal: Journal | None = None,
        retry: RetryPolicy | None = None,
        guard: StorageGuard | None = None,
        results_schema: pa.Schema | None = None,
    ) -> None:
        self.storage = storage
        self.results_schema = results_schema  # the run's declared schema: every part is written in it
        self.run_id = run_id
        self.every_seconds = every_seconds
        self.every_rows = every_rows
        self.clock = clock or SystemClock()  # what the periodic flush waits on; tests pass a fake one
        self.retry = retry or RetryPolicy(attempts=1)
        self.guard = guard
        self.journal = journal or Journal(storage, run_id=run_id, policy=self.retry, clock=self.clock, guard=guard)
        self.parts: list[str] = []
        self._buffer: list[EditResult] = []
        self._ledger: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Checkpointer:
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            # Under the lock, so a flush the ticker has begun ends first: cancelling it mid-write would
            # drop the batch it had already taken from the buffer.
            async with self._lock:
                self._ticker.cancel()
        await self.flush()

    async def record_accepted(self, job: EditJob, accepted: Accepted) -> None:
        """Journal an accepted async job before its first poll."""
        await self.journal.accepted(job, accepted)

    def track(self, job_key: str, accepted: Accepted | None = None) -> None:
        """A job resumed from an earlier run's journal: clear its entry once its result is durable."""
        self.journal.track(job_key, accepted)

    async def add(self, result: EditResult, ledger_rows: list[dict[str, Any]] | None = None) -> None:
        """Buffer one result (and its ledger rows); flush when the buffer is full.

        Raises:
            StorageError: the flush gave up; the rows are still buffered.
        """
        self._buffer.append(result)
        self._ledger.extend(ledger_rows or ())
        if len(self._buffer) >= self.every_rows:
            await self.flush()

    def take_buffer(self) -> tuple[list[EditResult], list[dict[str, Any]]]:
        """Empty the buffer and return what it held (results, ledger rows), for the caller to keep elsewhere."""
        taken = self._buffer, self._ledger
        self._buffer, self._ledger = [], []
        return taken

    async def flush(self) -> None:
        """Write the buffered rows as one ledger part and one results part, then settle their journal entries.

        Raises:
            StorageError: a write gave up after its retries; the rows are back in the buffer.
        """
        async with self._lock:
            batch, self._buffer = self._buffer, []
            ledger, self._ledger = self._ledger, []
            if not batch:
                return
            # The cost ledger first: a crash between the two writes can then only over-report a bill
            # (a journaled job is written again), never hide one. A failed write puts its rows back
            # (ledger rows only if the ledger itself failed: never twice).
            try:
                await self._write(lambda: write_ledger_part(self.storage, ledger, run_id=self.run_id))
            except StorageError:
                self._buffer[:0], self._ledger[:0] = batch, ledger
                raise
            try:
                part = await self._write(
                    lambda: write_results_part(self.storage, batch, run_id=self.run_id, schema=self.results_schema)
                )
            except StorageError:
                self._buffer[:0] = batch
                raise
            if part:
                self.parts.append(part)
            # Only now is the result durable, so only now may its journal entry go (one thread hop).
            keys = [result.job.job_key for result in batch]
            await asyncio.to_thread(self.journal.settle_sync, keys)

    async def _write(self, write: Any) -> str | None:
        result: str | None = await retry_write(write, self.retry, clock=self.clock, guard=self.guard)
        return result

    async def _tick(self) -> None:
        while True:
            await self.clock.sleep(self.every_seconds)
            try:
                await self.flush()
            except StorageError:  # the rows stay buffered; the next tick or the exit flush tries again
                continue
