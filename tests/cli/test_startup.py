"""Start-up: the commands that need no orchestration never reach for Prefect's API (nor import Prefect); `run`
starts Prefect's temporary server once its config is valid, leaves nothing running, and says so when the
server cannot start."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.kit import invoke
from tests.cli.sandbox_kit import RETOUCH, ROOT, subprocess_env
from tests.helpers import local_config, make_catalog, write_config


def _closed_port() -> int:
    """A loopback port nothing listens on (bound once by the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _no_api_env(tmp_path: Path) -> dict[str, str]:
    """An API that refuses every connection, and no temporary server to fall back on."""
    return subprocess_env(
        PREFECT_API_URL=f"http://127.0.0.1:{_closed_port()}/api",
        PREFECT_SERVER_EPHEMERAL_ENABLED="false",
        PREFECT_HOME=str(tmp_path / "prefect"),
    )


def _one_row(tmp_path: Path) -> Path:
    catalog = make_catalog(tmp_path, rows=1, prompts=["blur"])
    return write_config(tmp_path, local_config(catalog, tmp_path / "out", edits=[{"name": "v", "provider": "local"}]))


@pytest.mark.usefixtures("prefect_harness")
def test_commands_that_need_no_orchestration_work_with_no_prefect_api_and_import_no_prefect(tmp_path: Path) -> None:
    config = _one_row(tmp_path)
    assert invoke("run", str(config)).exit_code == 0  # results to show, list and export
    env, out = _no_api_env(tmp_path), str(tmp_path / "out")
    commands = {
        "validate": ["validate", str(config)],
        "forecast": ["forecast", str(config)],
        "show": ["show", out],
        "runs": ["runs", out],
        "export": ["export", str(config), "--to", str(tmp_path / "export"), "--format", "parquet"],
    }
    for name, args in commands.items():
        # -X importtime lists every module the command imports, on stderr.
        command = [RETOUCH[0], "-X", "importtime", *RETOUCH[1:], *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        messages = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
        assert done.returncode == 0, (name, done.stdout, messages)
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert "prefect" not in imported, name
    assert list((tmp_path / "out" / "reports").glob("forecast-*/forecast.parquet"))
    assert list((tmp_path / "export").rglob("*.parquet"))


def test_run_starts_prefects_temporary_server_and_leaves_nothing_running(tmp_path: Path) -> None:
    config = _one_row(tmp_path)
    env = subprocess_env(PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)  # as for a person: the run starts its own temporary server
    child = subprocess.Popen(
        [*RETOUCH, "run", str(config)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    output = child.communicate(timeout=300)[0].decode()
    assert child.returncode == 0, output
    assert len(list((tmp_path / "out" / "images").rglob("*.png"))) == 1, output
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)  # the temporary server ended with the run


def test_a_config_error_stops_run_before_prefects_server_starts(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=1, prompts=["blur"])
    config = write_config(tmp_path, {**local_config(catalog, tmp_path / "out"), "budgett": {"max_usd": 1}})
    env = subprocess_env(PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([*RETOUCH, "run", str(config)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "budgett" in done.stderr, done.stderr
    assert not (tmp_path / "prefect" / "prefect.db").exists()  # the server would have created its database
