"""The shard task's retry rules: only infrastructure faults, and a retry never re-sends finished work."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prefect.states import Failed

from tasks.core.config import parse_config
from tasks.core.errors import InvalidRequest, StorageError
from tasks.edit import _infrastructure_fault, _still_to_do
from tasks.pipeline.checkpoint import read_pending
from tasks.pipeline.executor import run_shard
from tasks.pipeline.shards import Planner
from tasks.storage.fs import Storage
from tasks.storage.layout import PENDING_DIR
from tasks.storage.results import PriorWork
from tests.helpers import local_config, make_catalog


def test_only_storage_and_os_errors_retry_a_shard() -> None:
    assert _infrastructure_fault(None, None, Failed(data=StorageError("bucket unreachable")))
    assert _infrastructure_fault(None, None, Failed(data=OSError("disk full")))
    assert not _infrastructure_fault(None, None, Failed(data=InvalidRequest("bad field")))
    assert not _infrastructure_fault(None, None, Failed(data=ValueError("a bug")))


def test_a_retried_shard_drops_durable_jobs_and_polls_journaled_ones(tmp_path: Path) -> None:
    config = parse_config(local_config(make_catalog(tmp_path, rows=3), tmp_path / "out"))
    jobs = list(Planner(config, PriorWork(set(), {})).jobs())
    asyncio.run(run_shard(jobs[:2], config, run_id="first-try", api_keys={}))  # these became durable
    storage = Storage(config.output.uri)
    record = {"job_key": jobs[2].job_key, "provider": "local", "provider_job_id": "p-1"}
    storage.write_bytes(f"{PENDING_DIR}/{jobs[2].job_key}.json", json.dumps(record).encode())
    left, pending = _still_to_do(jobs, config, {})
    assert [job.job_key for job in left] == [job.job_key for job in jobs[2:]]
    assert list(pending) == [jobs[2].job_key] and pending[jobs[2].job_key] == read_pending(storage)[jobs[2].job_key]
