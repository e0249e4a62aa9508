"""The flow on a Dask LocalCluster of 2 worker processes against the sandbox with server-side limits on:
the cluster holds each provider's limit and the budget together, and survives a worker's death."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from distributed import Client, LocalCluster

from flows.cluster import task_runner_for
from flows.edit_catalog import edit_catalog
from tasks.coordination import local_cluster
from tasks.core.config import load_config
from tasks.pipeline.manifest import RunSummary
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.helpers import make_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
RATE = 10.0  # picsart.edit: requests/s configured, and allowed by the sandbox
FASHN_CAP = 6
ROWS = 60  # FASHN's jobs in flight per key (the sandbox answers 429 past it)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    # The server's burst absorbs its own stalls (it shares this process with the scheduler on a busy
    # machine, so requests sent evenly can be handled in a bunch); its rate is the configured one.
    limited = {"picsart": {"rate_limit": {"per_second": RATE, "burst": 10}, "latency": 0.02},
               "fashn": {"concurrency": FASHN_CAP, "async_seconds": 0.3},
               "pixapi": {}}  # fmt: skip
    with SandboxServer(SandboxSettings.model_validate(limited)) as server:
        yield server


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[LocalCluster, Client]]:
    """Started once for the module: 2 worker processes on loopback, as `retouch run --runner dask` starts."""
    with (
        local_cluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None) as c,
        Client(c) as client,
    ):
        yield c, client


def _config(tmp_path: Path, sandbox: SandboxServer, cluster: LocalCluster, rows: int, **extra: Any) -> Path:
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    catalog = make_catalog(tmp_path / "catalog", rows=rows)
    fast = {
        "poll_interval": 0.05,
        "retry": {"attempts": 8, "base": 0.05, "cap": 0.5},
        "api_key": "${RETOUCH_TEST_KEY:-sandbox-key}",
    }
    raw = {
        "catalog": {"uri": str(catalog), "columns": {"id": "sku", "image": "src", "prompt": "instruction"}},
        "edits": [
            {"name": "edit", "provider": "picsart.edit", "prompt": "{prompt}", "params": {"format": "PNG"}},
            {"name": "tryon", "provider": "fashn.edit", "prompt": "{prompt}", "params": {"return_base64": True}},
        ],
        "providers": {
            "picsart.edit": {
                **fast,
                "base_url": f"{sandbox.base_url}/picsart/v1",
                "mode": "sync",
                "rate_limit": {"requests": RATE, "period": 1},
            },
            "fashn.edit": {
                **fast,
                "base_url": f"{sandbox.base_url}/fashn",
                "rate_limit": {"requests": 20, "period": 1, "max_in_flight": FASHN_CAP},
            },
        },  # fmt: skip
        "output": {"uri": str(tmp_path / "out")},
        "execution": {"runner": "dask", "dask_address": cluster.scheduler_address, "shard_size": 30},
        **extra,
    }
    return write_config(tmp_path, raw)


def _run(config: Path, **kwargs: Any) -> RunSummary:
    execution = load_config(str(config)).execution
    flow = edit_catalog.with_options(task_runner=task_runner_for(execution, providers=2))
    return flow(str(config), **kwargs)


def _sandbox(sandbox: SandboxServer, what: str) -> Any:
    return httpx.get(f"{sandbox.base_url}/_sandbox/{what}").json()


def test_two_processes_hold_the_limits_together(
    sandbox: SandboxServer, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    config = _config(tmp_path, sandbox, cluster[0], rows=ROWS)
    summary = _run(config)
    assert summary.counts == {"succeeded": 2 * ROWS}
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert results.group_by("job_key").len()["len"].max() == 1 and results.height == 2 * ROWS
    stats = _sandbox(sandbox, "stats")
    assert stats["picsart"]["rate_limited"] == 0 and stats["fashn"]["rate_limited"] == 0  # and so FASHN's 6 held
    sends = sorted(entry["time"] for entry in _sandbox(sandbox, "ledger")["entries"] if entry["provider"] == "picsart")
    steady = sends[len(sends) // 10 : -len(sends) // 10]  # past the start and before the tail
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert abs(rate / RATE - 1) <= 0.05, f"combined rate {rate:.2f}/s against a limit of {RATE:g}/s"
