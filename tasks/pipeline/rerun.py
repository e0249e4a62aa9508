"""A shard run again by Dask after its worker died: only the jobs nothing was sent for, and polls of accepted ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tasks.core.models import Accepted, EditJob
from tasks.pipeline.journal import read_journal
from tasks.storage.fs import Storage
from tasks.storage.results import prior_work

__all__ = ["still_to_do"]


def still_to_do(
    jobs: Sequence[EditJob], storage: Storage, pending: Mapping[str, Accepted]
) -> tuple[list[EditJob], dict[str, Accepted]]:
    """The shard's jobs left to run after its first run died with its worker, and the accepted ones to poll.

    Jobs with durable rows are done. Jobs whose submit left (an intent or an outcome in the journal) may
    have been billed: they are left to the next run's recovery, never sent again. Accepted jobs are polled.
    """
    done = prior_work(storage).done
    scan = read_journal(storage)
    accepted = {**pending, **scan.accepted}
    sent = (set(scan.intents) | set(scan.outcomes)) - set(accepted)
    left = [job for job in jobs if job.job_key not in done and job.job_key not in sent]
    return left, {job.job_key: accepted[job.job_key] for job in left if job.job_key in accepted}
