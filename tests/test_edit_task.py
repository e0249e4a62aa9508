"""The shard task's retry rules: only infrastructure faults, and a retry never re-sends finished work."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prefect.states import Failed

from tasks.core.config import parse_config
from tasks.core.errors import InvalidRequest, StorageError
from tasks.edit import _infrastructure_fault, _still_to_do
from tasks.pipeline.checkpoint import read_pending
from tasks.pipeline.executor import run_shard
from tasks.pipeline.run import PlanCounts, iter_shards
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
    jobs = [job for shard in iter_shards(config, prior=PriorWork(set(), {}), counts=PlanCounts()) for job in shard]
    asyncio.run(run_shard(jobs[:2], config, run_id="first-try", api_keys={}))  # these became durable
    storage = Storage(config.output.uri)
    record = {"job_key": jobs[2].job_key, "provider": "local", "provider_job_id": "p-1"}
    storage.write_bytes(f"{PENDING_DIR}/{jobs[2].job_key}.json", json.dumps(record).encode())
    left, pending = _still_to_do(jobs, config, {})
    assert [job.job_key for job in left] == [job.job_key for job in jobs[2:]]
    assert list(pending) == [jobs[2].job_key] and pending[jobs[2].job_key] == read_pending(storage)[jobs[2].job_key]


@pytest.mark.usefixtures("prefect_harness")
def test_api_keys_come_from_config_env_or_a_prefect_secret_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    from tasks.edit import resolve_api_keys

    Secret(value="sk-from-a-block").save("retouch-test-fashn-key", overwrite=True)
    monkeypatch.setenv("RETOUCH_TEST_PIXAPI_KEY", "sk-from-env")
    config = parse_config(
        {
            "catalog": {"uri": "c.parquet"},
            "edits": [{"name": "a", "provider": "local"}],
            "output": {"uri": "out"},
            "providers": {
                "fashn.edit": {"api_key_secret_block": "retouch-test-fashn-key"},
                "pixapi.edits": {"api_key_env": "RETOUCH_TEST_PIXAPI_KEY"},
                "picsart.edit": {"api_key": "sk-inline"},
            },
        }
    )
    keys = resolve_api_keys(config, ["fashn.edit", "pixapi.edits", "picsart.edit", "local"])
    assert keys == {
        "fashn.edit": "sk-from-a-block",
        "pixapi.edits": "sk-from-env",
        "picsart.edit": "sk-inline",
        "local": None,
    }
