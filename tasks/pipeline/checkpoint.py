"""Make results durable as a run goes: buffered rows flushed as atomic Parquet parts, plus the journal
of accepted async jobs (`pending/<job_key>.json`) that lets a re-run poll instead of paying again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from tasks.core.models import Accepted, EditJob, EditResult
from tasks.costs.ledger import write_ledger_part
from tasks.http.clock import Clock, SystemClock
from tasks.storage.fs import Storage
from tasks.storage.layout import PENDING_DIR, pending_path
from tasks.storage.results import write_results_part

__all__ = ["Checkpointer", "prune_pending", "read_pending"]


def read_pending(storage: Storage) -> dict[str, Accepted]:
    """Async jobs accepted by earlier runs whose results were never made durable, by job key."""
    found: dict[str, Accepted] = {}
    for path in storage.list(PENDING_DIR, ".json"):
        try:
            record = json.loads(storage.read_bytes(path))
            # Pop the key first: in `found[record.pop(...)] = Accepted(**record)` Python evaluates the
            # right-hand side before the subscript, so `job_key` reached Accepted() and every entry was
            # dropped as a TypeError, silently re-submitting (and re-billing) every journaled job.
            key = record.pop("job_key")
            found[key] = Accepted(**record)
        except (ValueError, TypeError, KeyError, FileNotFoundError):
            continue  # a journal entry that cannot be read only costs a re-submit
    return found


def prune_pending(storage: Storage, pending: dict[str, Accepted], done: set[str]) -> dict[str, Accepted]:
    """Drop journal entries of jobs whose results are already durable (a crash between writing a part
    and clearing its entries leaves them); returns the entries still worth polling."""
    for key in [key for key in pending if key in done]:
        storage.delete(pending_path(key))
        del pending[key]
    return pending


class Checkpointer:
    """Buffers results and writes them as one part every `every_seconds` or `every_rows`.

    A crash loses at most the buffered window; a job whose row never became durable is run again
    (its images are overwritten at the same key-derived paths, so nothing is orphaned or duplicated).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        run_id: str,
        every_seconds: float,
        every_rows: int,
        clock: Clock | None = None,
        results_schema: pa.Schema | None = None,
    ) -> None:
        self.storage = storage
        self.results_schema = results_schema  # the run's declared schema: every part is written in it
        self.run_id = run_id
        self.every_seconds = every_seconds
        self.every_rows = every_rows
        self.clock = clock or SystemClock()  # what the periodic flush waits on; tests pass a fake one
        self.parts: list[str] = []
        self._buffer: list[EditResult] = []
        self._ledger: list[dict[str, Any]] = []
        self._journaled: set[str] = set()
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
        payload = json.dumps({"job_key": job.job_key, **asdict(accepted)}).encode()
        await asyncio.to_thread(self.storage.write_bytes, pending_path(job.job_key), payload)
        self._journaled.add(job.job_key)

    def track(self, job_key: str) -> None:
        """A job resumed from an earlier run's journal: clear its entry once its result is durable."""
        self._journaled.add(job_key)

    async def add(self, result: EditResult, ledger_rows: list[dict[str, Any]] | None = None) -> None:
        self._buffer.append(result)
        self._ledger.extend(ledger_rows or ())
        if len(self._buffer) >= self.every_rows:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._buffer = self._buffer, []
            ledger, self._ledger = self._ledger, []
            if not batch:
                return
            # The cost ledger first: a crash between the two writes can then only over-report a bill
            # (the job runs again and is billed again), never hide one. A failed write puts its rows
            # back for the next flush (ledger rows only if the ledger itself failed: never twice).
            try:
                await asyncio.to_thread(write_ledger_part, self.storage, ledger, run_id=self.run_id)
            except Exception:
                self._buffer[:0], self._ledger[:0] = batch, ledger
                raise
            try:
                part = await asyncio.to_thread(
                    write_results_part, self.storage, batch, run_id=self.run_id, schema=self.results_schema
                )
            except Exception:
                self._buffer[:0] = batch
                raise
            if part:
                self.parts.append(part)
            # Only now is the result durable, so only now may its journal entry go.
            for result in batch:
                if result.job.job_key in self._journaled:
                    self._journaled.discard(result.job.job_key)
                    await asyncio.to_thread(self.storage.delete, pending_path(result.job.job_key))

    async def _tick(self) -> None:
        while True:
            await self.clock.sleep(self.every_seconds)
            try:
                await self.flush()
            except Exception:  # the rows stay buffered; the next tick or the exit flush tries again
                continue
