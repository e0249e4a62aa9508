"""The flow on a Dask LocalCluster of 2 worker processes against the sandbox with server-side limits on:
the cluster holds each provider's limit and the budget together, and survives any worker's death."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import yaml
from distributed import Client, LocalCluster

from flows.cluster import task_runner_for
from flows.edit_catalog import edit_catalog
from tasks.coordination import LEASE_SECONDS, SHARD_RESOURCE, local_cluster, open_coordination
from tasks.core.config import load_config
from tasks.pipeline.manifest import RunSummary, new_run_id
from tasks.pipeline.progress import listen
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.helpers import make_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
RATE = 10.0  # picsart.edit: requests/s configured, and allowed by the sandbox
FASHN_CAP = 6
ROWS = 80  # FASHN's jobs in flight per key (the sandbox answers 429 past it)


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
    """Started once for the module: 2 worker processes on loopback, as `retouch run --runner dask` starts them
    (declaring the shard resource, so the coordinator lives in the flow's process)."""
    options = {"threads_per_worker": 2, "resources": {SHARD_RESOURCE: 2}, "dashboard_address": None}
    with (
        local_cluster(n_workers=2, processes=True, host="127.0.0.1", **options) as c,
        Client(c) as client,
    ):
        yield c, client


def _config(
    tmp_path: Path,
    sandbox: SandboxServer,
    cluster: LocalCluster,
    rows: int,
    checkpoint_seconds: float = 5.0,
    **extra: Any,
) -> Path:
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
        },
        "output": {"uri": str(tmp_path / "out")},
        "execution": {
            "runner": "dask",
            "dask_address": cluster.scheduler_address,
            "shard_size": 30,
            "checkpoint_seconds": checkpoint_seconds,
        },
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
    run_id, ended = new_run_id(), Counter[str]()
    stop = listen(run_id, lambda status, images: ended.update([status]))
    summary = _run(config, run_id=run_id)
    assert summary.counts == {"succeeded": 2 * ROWS}
    # The shards' job events reach this process's listeners (the progress bar), relayed as Dask events.
    deadline = time.monotonic() + 10
    while ended.total() < 2 * ROWS and time.monotonic() < deadline:
        time.sleep(0.1)  # the last batch may trail the shard's result by a scheduler hop
    stop()
    assert ended == {"succeeded": 2 * ROWS}
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert results.group_by("job_key").len()["len"].max() == 1 and results.height == 2 * ROWS
    stats = _sandbox(sandbox, "stats")
    assert stats["picsart"]["rate_limited"] == 0 and stats["fashn"]["rate_limited"] == 0  # and so FASHN's 6 held
    sends = sorted(entry["time"] for entry in _sandbox(sandbox, "ledger")["entries"] if entry["provider"] == "picsart")
    steady = sends[len(sends) // 10 : -len(sends) // 10]  # past the start and before the tail
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert abs(rate / RATE - 1) <= 0.05, f"combined rate {rate:.2f}/s against a limit of {RATE:g}/s"


def test_a_budget_cap_holds_across_the_processes(
    sandbox: SandboxServer, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    cap = 12  # of 40 credits forecast: 20 rows × (1 Picsart + 1 FASHN), a credit each
    config = _config(tmp_path, sandbox, cluster[0], rows=20, budget={"max_credits": cap})
    summary = _run(config, proceed_to_cap=True)
    billed = _sandbox(sandbox, "ledger")["entries"]
    spent = sum(entry["credits"] for entry in billed)
    assert cap / 2 <= spent <= cap and summary.credits == spent  # quotes equal bills here: never past the cap
    assert summary.counts["succeeded"] == len(billed) and summary.counts["skipped"] == 40 - len(billed)
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert set(results.filter(pl.col("status") == "skipped")["error_type"]) == {"BudgetExceeded"}


def test_a_worker_killed_mid_run_costs_at_most_its_jobs_in_flight(
    sandbox: SandboxServer, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    local, client = cluster
    # Rows durable within 0.2 s: a job finished on the dead worker but not yet written is sent again.
    config = _config(tmp_path, sandbox, local, rows=40, checkpoint_seconds=0.2)
    killed: dict[str, int] = {}
    killer = threading.Thread(target=_kill_a_worker_mid_run, args=(sandbox, client, killed), daemon=True)
    killer.start()
    summary = _run(config)
    killer.join()
    assert killed, "the run ended before a worker could be killed"
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    succeeded = results.filter(pl.col("status") == "succeeded")
    assert succeeded.height == succeeded["job_key"].n_unique()
    # Submits that had left the dead worker are never sent again: the next run's recovery records them.
    assert 80 - results["job_key"].n_unique() <= 16 and summary.counts["succeeded"] <= 80
    _run(config)
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert results["job_key"].n_unique() == 80
    assert results.filter(pl.col("status") == "succeeded").group_by("job_key").len()["len"].max() == 1
    fingerprints = [entry["request_fingerprint"] for entry in _sandbox(sandbox, "ledger")["entries"]]
    billed_twice = len(fingerprints) - len(set(fingerprints))
    assert billed_twice <= 16  # at most the jobs in flight on the dead worker (execution.concurrency per shard)
    name = f"retouch-{summary.run_id}-fashn.edit"
    deadline = time.monotonic() + 3 * LEASE_SECONDS
    while _leases(client, name) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _leases(client, name) == 0  # the dead worker's in-flight leases came back


def _kill_a_worker_mid_run(sandbox: SandboxServer, client: Client, killed: dict[str, int]) -> None:
    """Once a quarter of the Picsart jobs are billed, SIGKILL a worker process running shards."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        billed = [e for e in _sandbox(sandbox, "ledger")["entries"] if e["provider"] == "picsart"]
        processing = {address for address, keys in client.processing().items() if keys}
        if len(billed) >= 10 and processing:
            # The coordinator's worker is this process (it runs no shard): every shard worker may die.
            victim, pid = next((a, p) for a, p in client.run(os.getpid).items() if a in processing)
            assert pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            killed[victim] = pid
            return
        time.sleep(0.1)


def _leases(client: Client, name: str) -> int:
    def count(dask_scheduler: Any) -> int:
        return len(dask_scheduler.extensions["semaphores"].leases.get(name, {}))

    return int(client.run_on_scheduler(count))


def test_the_coordinator_lives_in_the_flows_process_only_when_shards_can_be_kept_off_it(
    sandbox: SandboxServer, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    config = load_config(str(_config(tmp_path, sandbox, cluster[0], rows=1)))
    with open_coordination(cluster[1], config, ["picsart.edit"], run_id="here", at=date.today()) as link:
        owner = cluster[1].run(os.getpid)[link.host]
        assert link.hosted_here and owner == os.getpid()
    # A cluster whose workers do not declare the resource: the actor lives on one of them, as before.
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as plain,
        Client(plain) as client,
        open_coordination(client, config, ["picsart.edit"], run_id="there", at=date.today()) as link,
    ):
        assert not link.hosted_here and link.host in plain.scheduler_info["workers"]


def test_a_lane_stopped_in_a_worker_process_reaches_the_runs_summary(
    sandbox: SandboxServer, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    config = _config(tmp_path, sandbox, cluster[0], rows=8)
    raw = yaml.safe_load(config.read_text())
    raw["providers"]["picsart.edit"]["api_key"] = "${RETOUCH_TEST_BAD_KEY:-pk-wrong-key}"
    config.write_text(yaml.safe_dump(raw))
    summary = _run(config)
    assert "auth breaker" in summary.lanes_stopped["picsart.edit"] and "fashn.edit" not in summary.lanes_stopped
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert results.height == 16 and set(results.filter(pl.col("provider") == "fashn.edit")["status"]) == {"succeeded"}
