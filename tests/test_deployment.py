"""`retouch serve` against a real Prefect server: triggered runs refresh the catalog incrementally."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL

from flows.edit_catalog import edit_catalog
from tasks.pipeline.history import list_runs
from tasks.pipeline.manifest import RunSummary
from tasks.pipeline.refresh import config_digest
from tasks.storage.fs import Storage
from tests.cli.kit import invoke
from tests.helpers import local_config, make_catalog, make_png, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROOT = Path(__file__).parents[1]
EDITS = [{"name": "bright", "provider": "local", "seeds": [1]}]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`retouch serve` of a 4-row local catalog already edited once, as a subprocess on the test's server.

    The first run is the flow called here (each served run starts a Python process: ~10 s on a busy runner).
    """
    make_catalog(tmp_path, rows=4)
    config = write_config(tmp_path, local_config(tmp_path / "catalog.parquet", tmp_path / "out", EDITS))
    name = f"t-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    command = [sys.executable, "-m", "flows.cli", "serve", str(config), "--cron", "0 3 * * *", "--name", name]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = edit_catalog(str(config))  # while the served process starts (it runs nothing until triggered)
        assert first.counts == {"succeeded": 4} and first.catalog_version is not None
        _wait_for_deployment(f"edit-catalog/{name}", process)
        yield f"edit-catalog/{name}", tmp_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_deployment(name: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"retouch serve exited: {error}")
            try:
                client.read_deployment_by_name(name)
                return
            except Exception:  # not created yet
                time.sleep(0.5)  # polling a server process that is starting; there is no clock to inject here
    raise AssertionError(f"deployment {name} never appeared")


def _trigger(deployment: str, output: Path, state: str = "Completed") -> RunSummary:
    """Run the deployment once (the served process picks it up) and return the manifest it wrote."""
    before = len(list_runs(Storage(str(output))))
    flow_run = run_deployment(deployment, timeout=120, poll_interval=0.5)
    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    assert flow_run.state.name == state
    runs = list_runs(Storage(str(output)))
    assert len(runs) == before + 1
    return runs[-1]


def test_served_refresh_edits_only_new_and_changed_rows_and_ends_fast_when_unchanged(
    served: tuple[str, Path],
) -> None:
    deployment, folder = served
    output = folder / "out"
    catalog = pl.read_parquet(folder / "catalog.parquet")
    make_png(folder / "images" / "item-4.png", seed=4)
    added = pl.DataFrame([{"sku": "S4", "src": "images/item-4.png", "instruction": "rotate 90", "title": "item 4"}])
    changed = catalog.with_columns(
        pl.when(pl.col("sku") == "S1").then(pl.lit("grayscale")).otherwise(pl.col("instruction")).alias("instruction")
    )
    pl.concat([changed, added]).write_parquet(folder / "catalog.parquet")
    second = _trigger(deployment, output)
    assert (second.new, second.changed, second.already_done) == (1, 1, 3)
    assert second.counts == {"succeeded": 2} and not second.unchanged
    assert second.catalog_version is not None and second.catalog_version.rows == 5
    results = pl.read_parquet(output / "results" / "*.parquet")
    assert results.filter(pl.col("status") == "succeeded").height == 6  # 4 first + 1 new + S1 again

    third = _trigger(deployment, output, state="Unchanged")
    assert third.unchanged and third.planned == 0 and third.counts == {}
    assert third.catalog_version == second.catalog_version
    report = output / "reports" / third.run_id / "schedule-forecast.md"
    assert "0 3 * * *" in report.read_text()


def test_deploy_creates_a_scheduled_deployment_pinned_to_the_config(tmp_path: Path) -> None:
    make_catalog(tmp_path, rows=1)
    config = write_config(tmp_path, local_config(tmp_path / "catalog.parquet", tmp_path / "out", EDITS))
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        name = f"d-{uuid.uuid4().hex[:6]}"
        result = invoke("deploy", str(config), "--cron", "30 2 * * 1", "--work-pool", pool, "--name", name)
        assert result.exit_code == 0, result.output
        deployment = client.read_deployment_by_name(f"edit-catalog/{name}")
    assert deployment.work_pool_name == pool and deployment.entrypoint == "flows.edit_catalog.edit_catalog"
    assert [getattr(item.schedule, "cron", None) for item in deployment.schedules] == ["30 2 * * 1"]
    parameters = deployment.parameters
    assert parameters["config_path"] == str(config.resolve())
    assert parameters["schedule"]["config_sha256"] == config_digest(config)
    assert parameters["schedule"]["cron"] == "30 2 * * 1"

    refused = invoke("deploy", str(config), "--cron", "every night", "--work-pool", pool)
    assert refused.exit_code == 2 and "not a cron expression" in refused.output
    missing = invoke("deploy", str(config), "--cron", "0 3 * * *", "--work-pool", "no-such-pool")
    assert missing.exit_code == 2 and "no-such-pool" in missing.output


def test_a_process_worker_runs_the_deployment_where_it_was_deployed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Paths relative to where `retouch deploy` ran, as `retouch run` reads them; a process worker runs
    # each flow in a temporary directory unless the deployment says where.
    make_catalog(tmp_path, rows=2)
    config = write_config(tmp_path, local_config(Path("catalog.parquet"), Path("out"), EDITS))
    monkeypatch.chdir(tmp_path)
    pool, name = f"pool-{uuid.uuid4().hex[:6]}", f"w-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    result = invoke("deploy", str(config), "--cron", "0 3 * * *", "--work-pool", pool, "--name", name)
    assert result.exit_code == 0, result.output
    flow_run = run_deployment(f"edit-catalog/{name}", timeout=0)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    worker = [str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool", pool, "--run-once"]
    subprocess.run(worker, cwd=ROOT, env=env, timeout=300, check=True, capture_output=True)
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state
    assert state is not None and state.is_completed(), state
    results = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert results["status"].to_list() == ["succeeded", "succeeded"]
