"""A shard asked to stop (Ctrl-C): nothing starts or is sent after the request, jobs in flight get the grace
period, and what each job was doing when the grace ended decides its row (`run_shard`, real sandbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from tasks.core.config import PipelineConfig, load_config
from tasks.core.models import EditJob
from tasks.http import LimiterRegistry
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.checkpoint import read_pending
from tasks.pipeline.executor import ShardSummary, run_shard
from tasks.pipeline.interrupt import StopSignal
from tasks.pipeline.plan import plan_jobs
from tasks.sandbox import SandboxServer, SandboxSettings
from tasks.storage.fs import Storage
from tests.fakes import FakeClock
from tests.helpers import make_catalog, write_config


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """FASHN's jobs take 0.3 s."""
    with SandboxServer(SandboxSettings.model_validate({"fashn": {"async_seconds": 0.3}})) as server:
        yield server


@pytest.fixture(scope="module")
def stuck_sandbox() -> Iterator[SandboxServer]:
    """FASHN's jobs take a minute: still running when any grace period ends."""
    with SandboxServer(SandboxSettings.model_validate({"fashn": {"async_seconds": 60}})) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(sandbox: SandboxServer, stuck_sandbox: SandboxServer) -> None:
    for server in (sandbox, stuck_sandbox):
        httpx.post(f"{server.base_url}/_sandbox/reset").raise_for_status()  # faults too


def ledger(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"])


def setup(tmp_path: Path, sandbox: SandboxServer, provider: str, rows: int = 2) -> tuple[PipelineConfig, list[EditJob]]:
    catalog = make_catalog(tmp_path, rows=rows)
    base = {"picsart.edit": f"{sandbox.base_url}/picsart/v1", "fashn.edit": f"{sandbox.base_url}/fashn"}[provider]
    raw = {
        "catalog": {"uri": str(catalog), "columns": {"id": "sku", "image": "src", "prompt": "instruction"}},
        "edits": [{"name": "e", "provider": provider}],
        "providers": {
            provider: {"base_url": base, "api_key": "${RETOUCH_TEST_KEY:-sandbox-key}", "poll_interval": 0.05}
        },
        "output": {"uri": str(tmp_path / "out")},
    }
    config = load_config(write_config(tmp_path, raw))
    return config, [job for batch in iter_catalog(config.catalog) for job in plan_jobs(batch, config)]


def shard(config: PipelineConfig, jobs: list[EditJob], stop: StopSignal, **options: Any) -> ShardSummary:
    keys = {job.provider: "sandbox-key" for job in jobs}
    return asyncio.run(
        run_shard(jobs, config, run_id="r", api_keys=keys, stop=stop, limiters=LimiterRegistry(), **options)
    )


def stop_when(
    condition: Any, stop: StopSignal, config: PipelineConfig, jobs: list[EditJob], **options: Any
) -> ShardSummary:
    """Run the shard, and request the stop from another thread (as the signal handler does) once `condition()`."""

    async def main() -> ShardSummary:
        keys = {job.provider: "sandbox-key" for job in jobs}
        task = asyncio.create_task(
            run_shard(jobs, config, run_id="r", api_keys=keys, stop=stop, limiters=LimiterRegistry(), **options)
        )
        while not await asyncio.to_thread(condition):
            assert not task.done(), "the jobs ended before the stop"
        await asyncio.to_thread(stop.request)
        return await task

    return asyncio.run(main())


def test_after_a_stop_request_nothing_starts(tmp_path: Path, sandbox: SandboxServer) -> None:
    config, jobs = setup(tmp_path, sandbox, "fashn.edit")
    stop = StopSignal()
    stop.request()
    summary = shard(config, jobs, stop)
    assert summary.counts == {} and ledger(sandbox) == []
    assert not Storage(config.output.uri).list("results", ".parquet")


def test_jobs_in_flight_finish_within_the_grace_period(tmp_path: Path, sandbox: SandboxServer) -> None:
    config, jobs = setup(tmp_path, sandbox, "fashn.edit", rows=3)
    storage = Storage(config.output.uri)
    summary = stop_when(lambda: len(read_pending(storage)) == 3, StopSignal(), config, jobs, grace=30)
    assert summary.counts == {"succeeded": 3}  # accepted before the stop: polled to the end, not abandoned
    assert len(ledger(sandbox)) == 3 and read_pending(storage) == {}


def test_a_submit_on_the_wire_when_the_grace_ends_is_recorded_unknown_with_billing_risk(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    httpx.put(f"{sandbox.base_url}/_sandbox/faults", json={"hang": 1.0, "hang_seconds": 30}).raise_for_status()
    config, jobs = setup(tmp_path, sandbox, "picsart.edit", rows=1)
    summary = stop_when(lambda: ledger(sandbox), StopSignal(), config, jobs, clock=FakeClock())
    assert summary.counts == {"unknown": 1} and summary.billing_risk == 1
    row = pl.read_parquet(Path(config.output.uri) / "results" / "*.parquet").row(0, named=True)
    assert row["status"] == "unknown" and row["billing_risk"] and "Ctrl-C" in row["error_message"]
    costs = pl.read_parquet(Path(config.output.uri) / "costs" / "*.parquet")
    assert costs["job_key"].to_list() == [jobs[0].job_key]  # billed (it may have been): a ledger row, so shown


def test_a_journaled_job_when_the_grace_ends_leaves_no_row_and_stays_journaled(
    tmp_path: Path, stuck_sandbox: SandboxServer
) -> None:
    config, jobs = setup(tmp_path, stuck_sandbox, "fashn.edit")
    storage = Storage(config.output.uri)
    summary = stop_when(lambda: len(read_pending(storage)) == 2, StopSignal(), config, jobs, clock=FakeClock())
    assert summary.counts == {}  # the next run polls them: no row, and nothing lost
    assert set(read_pending(storage)) == {job.job_key for job in jobs}
    assert len(ledger(stuck_sandbox)) == 2
