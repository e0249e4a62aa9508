"""The async job store: create, run on the server's event loop, find by id until the job expires."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tasks.imaging import EditedImage
from tasks.sandbox.faults import Fault
from tasks.sandbox.ledger import LedgerEntry
from tasks.sandbox.settings import ProviderName

__all__ = ["Failure", "JobError", "JobState", "JobStore", "ProviderJob"]

log = logging.getLogger(__name__)


class JobState(StrEnum):
    """Provider-neutral lifecycle; each provider names these states in its own words."""

    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Failure:
    """Why a job failed, in the provider's vocabulary (e.g. FASHN ``PipelineError``)."""

    name: str
    message: str
    code: int = 500


class JobError(Exception):
    """Raised by a job's work to end it failed."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass(eq=False)
class ProviderJob:
    """One accepted job: its options, its state, and its outputs once done."""

    id: str
    provider: ProviderName
    key: str
    created_at: float
    fault: Fault | None = None
    #: A seeded number in [0, 1) drawn at submit, picking among a fault's variants (which failure name).
    variant: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    state: JobState = JobState.CREATED
    images: list[EditedImage] = field(default_factory=list)
    file_names: list[str] = field(default_factory=list)
    failure: Failure | None = None
    charge: LedgerEntry | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)


Work = Callable[[ProviderJob], Awaitable[list[EditedImage]]]
Finish = Callable[[ProviderJob], Awaitable[None]]


class JobStore:
    """Jobs by (provider, id). Runs each job as a task so it lives on after the submitting request."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._jobs: dict[tuple[ProviderName, str], ProviderJob] = {}

    def add(self, job: ProviderJob) -> ProviderJob:
        """Register a job (its state is CREATED until ``start``)."""
        self._purge()
        self._jobs[(job.provider, job.id)] = job
        return job

    def get(self, provider: ProviderName, job_id: str, key: str) -> ProviderJob | None:
        """The job, or None when unknown, expired, or owned by another key."""
        job = self._jobs.get((provider, job_id))
        if job is None or job.key != key:
            return None
        if job.expires_at is not None and self._clock() >= job.expires_at:
            del self._jobs[(provider, job_id)]
            return None
        return job

    def in_flight(self, provider: ProviderName, key: str) -> int:
        """Jobs of this key not yet finished."""
        return sum(1 for job in self._jobs.values() if job.provider == provider and job.key == key and not job.finished)

    def start(self, job: ProviderJob, work: Work, seconds: float, ttl: float, on_finish: Finish) -> None:
        """Run ``work`` as the job, taking at least ``seconds`` (half queued, half running)."""
        job.task = asyncio.get_running_loop().create_task(self._run(job, work, seconds, ttl, on_finish))

    async def _run(self, job: ProviderJob, work: Work, seconds: float, ttl: float, on_finish: Finish) -> None:
        job.state = JobState.QUEUED
        try:
            await asyncio.sleep(seconds / 2)
            job.state = JobState.RUNNING
            images, _ = await asyncio.gather(work(job), asyncio.sleep(seconds / 2))
            job.images = images
            job.state = JobState.SUCCEEDED
        except JobError as error:
            job.failure, job.state = error.failure, JobState.FAILED
        except Exception:
            # A sandbox bug must still end the job, or its client would poll forever; it is logged.
            log.exception("sandbox job %s failed unexpectedly", job.id)
            job.failure, job.state = Failure("InternalServerError", "internal error in the sandbox"), JobState.FAILED
        job.finished_at = self._clock()
        job.expires_at = job.finished_at + ttl
        try:
            await on_finish(job)
        finally:
            job.done.set()

    async def wait(self, job: ProviderJob, timeout: float | None) -> bool:
        """Wait until the job is finished or ``timeout`` seconds pass; True when finished."""
        try:
            await asyncio.wait_for(job.done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _purge(self) -> None:
        now = self._clock()
        expired = [ident for ident, job in self._jobs.items() if job.expires_at is not None and now >= job.expires_at]
        for ident in expired:
            del self._jobs[ident]

    async def close(self) -> None:
        """Cancel every running job (server shutdown)."""
        tasks = [job.task for job in self._jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def clear(self) -> None:
        """Forget every job (admin reset), cancelling those still running."""
        await self.close()
        self._jobs.clear()
