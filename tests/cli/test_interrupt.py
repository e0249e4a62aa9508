"""Ctrl-C: a real `retouch run` process, interrupted as a terminal would (SIGINT to its whole process group,
Prefect's temporary API server included), stops within seconds, records what finished, says how to resume;
the re-run completes with no job done or billed twice. A second Ctrl-C quits at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.cli import app
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.cli.sandbox_kit import RETOUCH, ROOT, ledger, paid_config, results, subprocess_env
from tests.helpers import write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
NOISE = ("Traceback", "Crash detected", "EventsWorker", "Unable to connect", "ConnectError")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Async jobs that take a second, and some latency on every request: a run lasts long enough to stop."""
    slow = {"async_seconds": 1.0, "latency": 0.05}
    with SandboxServer(SandboxSettings.model_validate({n: dict(slow) for n in ("picsart", "pixapi", "fashn")})) as s:
        yield s


def slow_config(tmp_path: Path, sandbox: SandboxServer, **sections: Any) -> Path:
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    raw = paid_config(tmp_path, sandbox, rows=12, fashn_seeds=(1, 2), **sections)  # 36 jobs
    for settings in raw["providers"].values():
        settings.update(poll_interval=0.2, rate_limit={"requests": 4, "period": 1})
    return write_config(tmp_path, raw)


def start(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`retouch run CONFIG --yes` in a session of its own, as a shell runs a foreground job."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*RETOUCH, "run", str(config), "--yes"], stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
            env=subprocess_env(**env), start_new_session=True,
        )  # fmt: skip


def wait_for(condition: Callable[[], object], child: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert child.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_ctrl_c_stops_within_seconds_and_a_rerun_completes_without_paying_twice(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config, log, out = slow_config(tmp_path, sandbox), tmp_path / "run.log", tmp_path / "out"
    child = start(config, log)  # no PREFECT_API_URL: it starts Prefect's temporary server, as for a person
    wait_for(lambda: list((out / "results").glob("*.parquet")), child, log)
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C at a terminal does: every process of the group
    sent = time.monotonic()
    code = child.wait(timeout=120)
    took = time.monotonic() - sent
    output = log.read_text()
    assert code == 130 and took < 15, (code, took, output)
    assert "Stopped (Ctrl-C)" in output and f"To resume, run the same command:\n  retouch run {config} --yes" in output
    assert not [noise for noise in NOISE if noise in output], output
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)  # nothing of the run is left behind, Prefect's server included
    manifest = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert manifest["interrupted"] is True and 0 < sum(manifest["counts"].values()) < 36

    again = CliRunner().invoke(app, ["run", str(config), "--yes"])
    assert again.exit_code == 0, again.output
    table = results(out)
    succeeded = table.filter(pl.col("status") == "succeeded")
    assert succeeded.select("job_key", "output_index").is_duplicated().sum() == 0  # no duplicate row
    assert succeeded["job_key"].n_unique() == 36 and set(table["status"]) == {"succeeded"}
    billed = [entry["request_id"] for entry in ledger(sandbox)]
    assert len(billed) == len(set(billed)) == 36  # each job billed once (X-Request-Id is its key)


def test_a_second_ctrl_c_quits_at_once(tmp_path: Path) -> None:
    slow = {"async_seconds": 60.0}  # jobs in flight would hold a graceful stop for its whole grace period
    with SandboxServer(SandboxSettings.model_validate({n: dict(slow) for n in ("picsart", "pixapi", "fashn")})) as sb:
        config, log, out = slow_config(tmp_path, sb), tmp_path / "run.log", tmp_path / "out"
        child = start(config, log, PREFECT_API_URL=str(PREFECT_API_URL.value()))
        wait_for(lambda: list((out / "pending").glob("*.json")), child, log)  # a job accepted and journaled
        os.killpg(child.pid, signal.SIGINT)
        wait_for(lambda: "Stopping:" in log.read_text(), child, log, timeout=30)
        os.killpg(child.pid, signal.SIGINT)
        sent = time.monotonic()
        code = child.wait(timeout=60)
        assert code == 130 and time.monotonic() - sent < 3, log.read_text()
    assert "Quit at once" in log.read_text()
    assert list((out / "pending").glob("*.json"))  # accepted jobs stay journaled: the next run polls them
