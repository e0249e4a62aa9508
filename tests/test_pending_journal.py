"""The journal of accepted async jobs (`pending/<job_key>.json`) is read back, so a run that was killed
mid-poll is resumed by polling the provider's job, never by submitting (and paying for) it again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tasks.core.config import load_config
from tasks.core.models import Accepted
from tasks.http import LimiterRegistry
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.checkpoint import Checkpointer, read_pending
from tasks.pipeline.executor import run_shard
from tasks.pipeline.plan import plan_jobs
from tasks.sandbox import SandboxServer, SandboxSettings
from tasks.storage.fs import Storage
from tasks.storage.layout import PENDING_DIR
from tests.helpers import make_catalog, write_config


def test_a_journaled_job_reads_back_under_its_key(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    accepted = Accepted(
        provider="fashn.edit", provider_job_id="job-1", request_id="r-1", detail_json='{"format": "png"}'
    )

    async def journal() -> str:
        checkpoint = Checkpointer(storage, run_id="run", every_seconds=60, every_rows=100)
        job = next(iter(_jobs_of(tmp_path)))
        await checkpoint.record_accepted(job, accepted)
        return job.job_key

    key = asyncio.run(journal())
    assert storage.list(PENDING_DIR, ".json") == [f"{PENDING_DIR}/{key}.json"]
    assert read_pending(storage) == {key: accepted}


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxServer]:
    """Async jobs take 1 s: long enough to stop a shard between the journal write and the result."""
    settings = SandboxSettings.model_validate({"fashn": {"async_seconds": 1.0}})
    with SandboxServer(settings) as server:
        yield server


def test_a_shard_stopped_mid_poll_is_resumed_by_polling_not_paying_again(
    tmp_path: Path, slow_sandbox: SandboxServer
) -> None:
    config = load_config(write_config(tmp_path, _fashn_config(tmp_path, slow_sandbox.base_url)))
    jobs = _jobs_of(tmp_path, config)
    storage = Storage(config.output.uri)
    keys = {"fashn.edit": "sandbox-key"}

    async def crash_after_journal() -> None:
        shard = asyncio.create_task(run_shard(jobs, config, run_id="killed", api_keys=keys, limiters=LimiterRegistry()))
        while len(read_pending(storage)) < len(jobs):  # every entry past its intent: accepted
            assert not shard.done(), "the jobs finished before the test could stop them"
            await asyncio.sleep(0.01)
        shard.cancel()  # the crash: every job accepted and journaled, none finished
        with pytest.raises(asyncio.CancelledError):
            await shard

    asyncio.run(crash_after_journal())
    assert not storage.list("results", ".parquet")
    pending = read_pending(storage)
    assert set(pending) == {job.job_key for job in jobs}

    summary = asyncio.run(
        run_shard(jobs, config, run_id="resumed", api_keys=keys, pending=pending, limiters=LimiterRegistry())
    )
    assert summary.counts == {"succeeded": len(jobs)}
    billed = Counter(
        entry["request_id"] for entry in httpx.get(f"{slow_sandbox.base_url}/_sandbox/ledger").json()["entries"]
    )
    assert billed == {job.job_key: 1 for job in jobs}  # each job paid for once, by the run that submitted it
    assert storage.list(PENDING_DIR, ".json") == []  # the journal is cleared once the results are durable


def _fashn_config(directory: Path, base_url: str) -> dict:
    catalog = make_catalog(directory / "catalog", rows=3)
    return {
        "catalog": {"uri": str(catalog), "columns": {"id": "sku", "image": "src", "prompt": "instruction"}},
        "edits": [{"name": "fashn", "provider": "fashn.edit", "params": {"resolution": "1k", "output_format": "png"}}],
        "providers": {
            "fashn.edit": {
                "base_url": f"{base_url}/fashn",
                "api_key": "${RETOUCH_TEST_SANDBOX_KEY:-sandbox-key}",
                "poll_interval": 0.05,
            }
        },
        "output": {"uri": str(directory / "out")},
        "execution": {"checkpoint_seconds": 0.05},
    }


def _jobs_of(directory: Path, config=None):  # type: ignore[no-untyped-def]
    if config is None:
        config = load_config(write_config(directory, _fashn_config(directory, "http://127.0.0.1:9")))
    return [job for batch in iter_catalog(config.catalog) for job in plan_jobs(batch, config)]
