"""Run a shard's local jobs in worker processes a batch at a time; this process only renames and records rows."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from tasks.core.config import PipelineConfig
from tasks.core.errors import ProviderUnavailable, RetouchError
from tasks.core.models import EditJob, EditResult
from tasks.costs import Quote, Reservation
from tasks.costs.billing import Stage
from tasks.pipeline.keeper import Keeper
from tasks.pipeline.lane import engine_failed
from tasks.pipeline.local_work import EDIT, LocalOutcome, LocalWork, run_batch
from tasks.pipeline.memory import ceiling_bytes
from tasks.pipeline.pool import WorkerPools
from tasks.quality import QualityGate
from tasks.storage.fs import Storage
from tasks.storage.layout import image_path

__all__ = ["Admitted", "LocalBatches", "local_work", "reads_in_workers"]

# Work one batch should hold: long enough that a trip to a worker (pickling, a wake-up of this loop) is
# small beside it, short enough that a stop or the shard's last batches do not wait long on one worker.
_BATCH_SECONDS = 0.1
_FIRST_BATCH = 4  # jobs in a batch before their time per job is known
_MAX_BATCH = 256
_BATCHES_PER_WORKER = 2  # in flight per worker, so a worker never waits for this process to send more


@dataclass(frozen=True)
class Admitted:
    """A job let in by the shard: its budget reservation and quote (`reserved` False: skipped by the budget)."""

    job: EditJob
    reservation: Reservation | None
    quote: Quote
    skipped: EditResult | None = None


Admit = Callable[[EditJob], Admitted | None]
Finish = Callable[[Admitted, EditResult], Awaitable[EditJob | None]]
Elsewhere = Callable[[EditJob], Awaitable[None]]
# How a failed job becomes its row: (job, error, run id, started at, quote) -> result (the executor's).
FailedRow = Callable[[EditJob, Exception, str, float, Quote], EditResult]


def local_work(config: PipelineConfig, storage: Storage) -> LocalWork:
    """The settings a shard's workers need for its local jobs."""
    return LocalWork(
        token=uuid.uuid4().hex,
        catalog=config.catalog,
        output_uri=storage.uri,
        storage_options=dict(config.output.storage_options),
        convert_to=config.output.format,
        memory_ceiling=ceiling_bytes(config.execution.memory_mb),
        scorers=tuple((variant.name, tuple(variant.scorers)) for variant in config.edits),
    )


def reads_in_workers(job: EditJob) -> bool:
    """True when a worker can read every input itself: an http(s) source is fetched by the shard's guarded client."""
    refs = (job.image, job.mask, job.image_context)
    return not any(ref is not None and ref.value.lower().startswith(("http://", "https://")) for ref in refs)


class LocalBatches:
    """One shard's local jobs, sent to the lane's worker processes in batches.

    Each batch comes back as one future: its jobs' outputs are already written under temporary names,
    hashed and scored, so this process renames them, judges duplicates and rules, and records the rows,
    with no thread hop or event-loop wake-up per job. A worker that dies fails the jobs of the batches it
    took down (each a `failed` row; a re-run does them) and the pool is renewed for the rest.

    Args:
        provider: the lane whose jobs this runner takes (follow-ups bound elsewhere go to `elsewhere`).
        pools: where the lane's pool was leased (to renew it if a worker dies).
        workers: the pool's size.
        pool: the leased pool.
        work: the shard's settings for the workers.
        keeper: the shard's durability (renames are retried like any write; storage down spools them).
        quality: the shard's gate (duplicates are measured against the row's other outputs it saw).
        run_id: recorded on every row.
        failed_row: how a failed job becomes its row.
    """

    def __init__(
        self,
        provider: str,
        pools: WorkerPools,
        workers: int,
        pool: Executor,
        work: LocalWork,
        keeper: Keeper,
        quality: QualityGate,
        run_id: str,
        failed_row: FailedRow,
    ) -> None:
        self.provider, self.failed_row = provider, failed_row
        self.pools, self.workers, self.pool = pools, workers, pool
        self.work, self.keeper, self.quality, self.run_id = work, keeper, quality, run_id
        self._queue: deque[EditJob] = deque()
        self._per_job: float | None = None  # seconds a job takes in a worker, once measured

    def add(self, job: EditJob) -> None:
        """Queue a job for the next batch."""
        self._queue.append(job)

    async def run(self, admit: Admit, finish: Finish, elsewhere: Elsewhere, stopping: Callable[[], bool]) -> None:
        """Run every queued job (and the follow-ups that come back to this lane) to its row.

        Args:
            admit: lets a job in (None: it must not start: a stop, or storage down).
            finish: records a finished job's row; returns its follow-up job, if any.
            elsewhere: runs a follow-up bound for another lane.
            stopping: True once no new job may start.
        """
        flying: dict[asyncio.Future[list[LocalOutcome]], tuple[list[Admitted], Executor]] = {}
        others: list[asyncio.Task[None]] = []
        while self._queue or flying:
            while self._queue and len(flying) < self.workers * _BATCHES_PER_WORKER and not stopping():
                batch = await self._admit_batch(admit, finish)
                if batch:
                    pool = self.pool
                    flying[self._submit(batch)] = (batch, pool)
            if stopping():
                self._queue.clear()  # never started: the next run does them
            if not flying:
                continue
            done, _ = await asyncio.wait(flying, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                for follow in await self._commit(*flying.pop(future), future, finish):
                    if follow.provider == self.provider and reads_in_workers(follow):
                        self._queue.append(follow)
                    else:
                        others.append(asyncio.ensure_future(elsewhere(follow)))
        await asyncio.gather(*others)

    async def _admit_batch(self, admit: Admit, finish: Finish) -> list[Admitted]:
        batch: list[Admitted] = []
        size = self._batch_size()
        while self._queue and len(batch) < size:
            admitted = admit(self._queue.popleft())
            if admitted is None:
                continue
            if admitted.skipped is not None:  # over a budget cap: its row says so, nothing runs
                follow = await finish(admitted, admitted.skipped)
                if follow is not None:
                    self._queue.append(follow)
                continue
            batch.append(admitted)
        return batch

    def _batch_size(self) -> int:
        # Spread what is left over every worker, so the shard's last batches end together.
        spread = math.ceil(len(self._queue) / self.workers)
        if self._per_job is None:
            return max(1, min(_FIRST_BATCH, spread))
        return max(1, min(_MAX_BATCH, spread, round(_BATCH_SECONDS / max(self._per_job, 1e-6))))

    def _submit(self, batch: list[Admitted]) -> asyncio.Future[list[LocalOutcome]]:
        jobs = [admitted.job for admitted in batch]
        try:
            return asyncio.wrap_future(self.pool.submit(run_batch, self.work, jobs))
        except BrokenProcessPool:  # another shard's batch took the pool down: use the one put in its place
            self.pool = self.pools.renew(self.workers, self.pool)
            return asyncio.wrap_future(self.pool.submit(run_batch, self.work, jobs))

    async def _commit(
        self, batch: list[Admitted], pool: Executor, future: asyncio.Future[list[LocalOutcome]], finish: Finish
    ) -> list[EditJob]:
        try:
            outcomes = future.result()
        except BrokenProcessPool as error:
            self.pool = self.pools.renew(self.workers, pool)  # the pool the batch went to, renewed once
            results = [self._crashed(admitted, error) for admitted in batch]
            self._sweep([admitted.job for admitted in batch])
        except Exception as error:  # the batch never ran (it could not be sent): every job still ends as a row
            results = [self.failed_row(a.job, error, self.run_id, time.time(), a.quote) for a in batch]
        else:
            self._measure(outcomes)
            results = [await self._result(admitted, outcome) for admitted, outcome in zip(batch, outcomes, strict=True)]
        follows = []
        for admitted, result in zip(batch, results, strict=True):
            follow = await finish(admitted, result)
            if follow is not None:
                follows.append(follow)
        return follows

    def _sweep(self, jobs: list[EditJob]) -> None:
        """Remove what a dead worker may have left half-written under temporary names for `jobs`."""
        storage = self.keeper.storage
        for job in jobs:
            folder = Path(storage.path(image_path(job.variant, job.job_key, 0, "png"))).parent
            for stray in folder.glob(f".{job.job_key}_*.tmp"):
                stray.unlink(missing_ok=True)

    def _measure(self, outcomes: list[LocalOutcome]) -> None:
        if outcomes:
            spent = sum(outcome.finished_at - outcome.started_at for outcome in outcomes) / len(outcomes)
            self._per_job = spent if self._per_job is None else 0.7 * self._per_job + 0.3 * spent

    async def _result(self, admitted: Admitted, outcome: LocalOutcome) -> EditResult:
        job = admitted.job
        if outcome.error is not None:
            error = _as_lane_saw_it(job, outcome)
            return self.failed_row(job, error, self.run_id, outcome.started_at, admitted.quote)
        await self.keeper.commit(job, outcome.outputs)
        stored = tuple(staged.stored for staged in outcome.outputs)
        judged = self.quality.judge_scored(job, stored) if all(output.scores for output in stored) else stored
        return EditResult(
            job=job, status="succeeded", run_id=self.run_id, outputs=judged, attempts=1,
            started_at=outcome.started_at, finished_at=outcome.finished_at, credits=0.0,
        )  # fmt: skip

    def _crashed(self, admitted: Admitted, error: BaseException) -> EditResult:
        job = admitted.job
        crash = ProviderUnavailable(
            f"{job.provider}: a worker process died while editing the batch holding row {job.row_id} ({error}); "
            "nothing was written for it: run again to edit it",
            provider=job.provider,
            row_id=job.row_id,
            stage=Stage.REJECTED,
        )
        return self.failed_row(job, crash, self.run_id, time.time(), admitted.quote)


def _as_lane_saw_it(job: EditJob, outcome: LocalOutcome) -> Exception:
    """The worker's error as the lane would have passed it on from `submit` (inputs errors pass as they are)."""
    error = outcome.error
    assert error is not None
    if outcome.step != EDIT:
        return error if isinstance(error, Exception) else RuntimeError(str(error))
    if isinstance(error, RetouchError):
        error.attempts = 1
        if error.stage is None:
            error.stage = Stage.REJECTED
        return error
    return engine_failed(job, error)
