"""Keep what was paid for: the journal before each submit, retried writes of outputs and rows, and a local
spool for billed outcomes while output.uri stays down (the run then stops; the next one writes them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from tasks.core.config import PipelineConfig
from tasks.core.errors import RetouchError, StorageError
from tasks.core.models import Accepted, EditJob, EditResult, OutputImage, StoredOutput
from tasks.costs.billing import Stage
from tasks.http import Clock, SystemClock
from tasks.pipeline.checkpoint import Checkpointer
from tasks.pipeline.journal import INTENT, Journal
from tasks.pipeline.local_work import StagedOutput
from tasks.pipeline.outputs import PreparedOutput, prepare_output
from tasks.pipeline.spool import Spool, spool_dir
from tasks.pipeline.writes import retry_write, run_guard, write_policy
from tasks.storage.fs import Storage
from tasks.storage.results import result_rows

__all__ = ["Judge", "Keeper"]

# Scores stored outputs (CPU work); runs in the worker-thread trip that wrote them.
Judge = Callable[[tuple[StoredOutput, ...]], tuple[StoredOutput, ...]]


class Keeper:
    """One shard's durability: journal, checkpoint, spool, and the run's storage guard.

    Use as an async context manager around the shard's jobs. On exit it flushes; if storage failed past
    its retries it spools whatever is still in memory and raises StorageError naming the spool.
    """

    def __init__(
        self,
        storage: Storage,
        config: PipelineConfig,
        *,
        run_id: str,
        clock: Clock | None = None,
        results_schema: pa.Schema | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock or SystemClock()
        self.policy = write_policy(config.output.write_retry)
        self.guard = run_guard(run_id)
        self.spool = Spool(spool_dir(config.output))
        self.journal = Journal(storage, run_id=run_id, policy=self.policy, clock=self.clock, guard=self.guard)
        self.checkpoint = Checkpointer(
            storage,
            run_id=run_id,
            every_seconds=config.execution.checkpoint_seconds,
            every_rows=config.execution.checkpoint_rows,
            journal=self.journal,
            retry=self.policy,
            guard=self.guard,
            results_schema=results_schema,
        )
        self._held: dict[str, list[PreparedOutput]] = {}  # job key -> outputs the storage refused

    @property
    def stopped(self) -> bool:
        """True once storage failed past its retries: send no new job."""
        return self.guard.tripped

    @property
    def parts(self) -> list[str]:
        return self.checkpoint.parts

    async def __aenter__(self) -> Keeper:
        await self.checkpoint.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.checkpoint.__aexit__(*exc)
        except StorageError:
            await self._spool_buffer()
        if self.guard.tripped and not exc[0]:
            raise self._stop_error()

    def not_sent(self) -> None:
        """Count a job left unsent because storage is down."""
        self.guard.not_sent += 1

    async def intent(self, job: EditJob) -> None:
        """Journal the job before its submit (raises StorageError: then it is not sent)."""
        await self.journal.intent(job)

    async def accepted(self, job: EditJob, accepted: Accepted) -> None:
        """Journal an accepted job's id (a failure never stops a job that is already paid for)."""
        await self.journal.accepted(job, accepted)

    def track(self, job_key: str, accepted: Accepted) -> None:
        self.journal.track(job_key, accepted)

    def keep_open(self, job_key: str, ledgered_credits: float | None) -> None:
        """An abandoned poll: its journal entry outlives its rows, so a later run polls instead of buying."""
        self.journal.keep_open(job_key, ledgered_credits)

    async def store(
        self, job: EditJob, outputs: Sequence[OutputImage], convert_to: str | None, judge: Judge | None = None
    ) -> tuple[StoredOutput, ...]:
        """Write a finished job's outputs, retried; if storage stays down, hold them for the spool.

        Checking, hashing, the first write and `judge` share one worker-thread trip (a trip costs more
        than the work on small images); only a failed write comes back for its retries.

        Args:
            judge: scores the stored outputs (the returned outputs are its answer); None: unscored.

        Raises:
            ProviderUnavailable: an output does not decode (stage `delivered`: the job was billed).
        """
        try:
            prepared, failed, stored = await asyncio.to_thread(self._prepare_and_write, job, outputs, convert_to, judge)
        except RetouchError as error:
            error.stage = Stage.DELIVERED
            raise
        if failed is not None:
            try:
                await retry_write(
                    lambda: self._write(prepared), self.policy, clock=self.clock, guard=self.guard, failed=failed
                )
            except StorageError:
                self._held[job.job_key] = prepared  # paid for: never dropped, spooled with its rows
        return stored

    def _prepare_and_write(
        self, job: EditJob, outputs: Sequence[OutputImage], convert_to: str | None, judge: Judge | None
    ) -> tuple[list[PreparedOutput], StorageError | OSError | None, tuple[StoredOutput, ...]]:
        """In a worker thread: the prepared outputs, the first write's failure (None: written), the judged rows."""
        prepared = [prepare_output(self.storage, job, i, image, convert_to) for i, image in enumerate(outputs)]
        failed: StorageError | OSError | None = None
        try:
            self._write(prepared)
        except (StorageError, OSError) as error:
            failed = error
        stored = tuple(item.stored for item in prepared)
        return prepared, failed, judge(stored) if judge is not None else stored

    def _write(self, prepared: list[PreparedOutput]) -> None:
        for item in prepared:
            self.storage.write_bytes(item.relative, item.data)

    async def commit(self, job: EditJob, staged: Sequence[StagedOutput]) -> None:
        """Give outputs a worker wrote under temporary names their own (a rename, on the loop: it is local and
        small), and write those it carried back; retried; if storage stays down, hold them for the spool."""
        try:
            await retry_write(
                lambda: _place(self.storage, staged),
                self.policy,
                clock=self.clock,
                guard=self.guard,
                in_thread=False,
            )
        except StorageError:
            self._held[job.job_key] = [_reclaimed(self.storage, item) for item in staged]

    async def add(self, result: EditResult, ledger: list[dict[str, Any]]) -> None:
        """Make one finished job durable: its rows to the checkpoint, or with its held outputs to the spool."""
        key = result.job.job_key
        if key in self._held:
            await self._spool(key, result_rows(result), ledger)
            return
        try:
            if self.journal.state(key) == INTENT:  # else it keeps no rows: none are built (local jobs have no entry)
                await self.journal.outcome(key, result_rows(result), ledger)
        except StorageError:
            pass  # the guard is tripped; the rows stay in memory and are spooled at the end if need be
        try:
            await self.checkpoint.add(result, ledger)
        except StorageError:
            pass  # the rows stay buffered (see __aexit__)

    async def _spool(self, key: str, rows: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> None:
        images = [(item.relative, item.data) for item in self._held.pop(key, [])]
        try:
            await asyncio.to_thread(self.spool.put, key, images, rows, ledger)
        except StorageError:
            self.guard.lost += 1  # the local disk failed too: the journal entry (if any) holds the job
            return
        self.guard.spooled += 1

    async def _spool_buffer(self) -> None:
        results, ledger = self.checkpoint.take_buffer()
        by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in ledger:
            by_job[str(row["job_key"])].append(row)
        for result in results:
            key = result.job.job_key
            await self._spool(key, result_rows(result), by_job.pop(key, []))

    def _stop_error(self) -> StorageError:
        error = self.guard.error
        guard = self.guard
        lost = (
            f"; {guard.lost} could not be spooled either (their journal entries hold them as unknown)"
            if guard.lost
            else ""
        )
        return StorageError(
            f"stopped: writing under {self.storage.uri} kept failing ({error}). Finished jobs are kept in "
            f"{self.spool.root} ({guard.spooled} so far, with those still in flight){lost}; the next run writes "
            f"them without buying them again. No new job is sent ({guard.not_sent} so far). Fix the storage, "
            "then run again.",
            uri=self.storage.uri,
            spool=str(self.spool.root),
        )


def _place(storage: Storage, staged: Sequence[StagedOutput]) -> None:
    for item in staged:
        if item.temporary is None:
            storage.write_bytes(item.relative, item.data or b"")
            continue
        try:  # no stat first: the temporary is missing only once an earlier attempt moved it
            os.replace(item.temporary, storage.path(item.relative))
        except FileNotFoundError:
            if os.path.exists(item.temporary):
                raise  # the target's folder is gone: a failed write, retried


def _reclaimed(storage: Storage, item: StagedOutput) -> PreparedOutput:
    """A staged output as the spool keeps it: its bytes, its temporary file removed."""
    data = item.data
    if item.temporary is not None:
        path = item.temporary if os.path.exists(item.temporary) else storage.path(item.relative)
        with open(path, "rb") as handle:
            data = handle.read()
        with contextlib.suppress(OSError):
            os.remove(item.temporary)
    return PreparedOutput(item.relative, data or b"", item.stored)
