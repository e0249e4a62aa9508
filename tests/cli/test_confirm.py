"""See the cost before paying: `run` shows the forecast, and asks before a paid run only when a person is there.

The interactive runs are real `retouch run` processes whose stdin is a pseudo-terminal, as in a shell."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.cli import app
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.cli.sandbox_kit import RETOUCH, ROOT, ledger, paid_config, subprocess_env
from tests.helpers import write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
QUESTION = "Go on? [y/N]"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    fast = {"async_seconds": 0.05}
    with SandboxServer(SandboxSettings.model_validate({n: dict(fast) for n in ("picsart", "pixapi", "fashn")})) as s:
        yield s


@pytest.fixture
def config(sandbox: SandboxServer, tmp_path: Path) -> Path:
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    return write_config(tmp_path, paid_config(tmp_path, sandbox))


def run_at_a_terminal(config: Path, *flags: str, answer: str | None = None, timeout: float = 300) -> tuple[int, str]:
    """`retouch run CONFIG FLAGS` with a terminal as stdin; types `answer` when the question shows."""
    leader, follower = pty.openpty()
    env = subprocess_env(PREFECT_API_URL=str(PREFECT_API_URL.value()))
    child = subprocess.Popen(
        [*RETOUCH, "run", str(config), *flags], stdin=follower, stdout=follower, stderr=follower, cwd=ROOT, env=env
    )
    os.close(follower)
    seen, deadline = b"", time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        if select.select([leader], [], [], 0.5)[0]:
            try:
                seen += os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if answer is not None and QUESTION.encode() in seen:
                os.write(leader, f"{answer}\n".encode())
                answer = None
    code = child.wait(timeout=max(1.0, deadline - time.monotonic()))
    os.close(leader)
    return code, seen.decode(errors="replace")


def test_a_person_who_declines_sends_nothing(sandbox: SandboxServer, config: Path) -> None:
    code, output = run_at_a_terminal(config, answer="n")
    assert code == 3, output
    assert output.index("Cost forecast") < output.index(QUESTION)  # the forecast comes first
    assert "spend about 0.06 USD (6 credits) on 6 jobs" in output and "Nothing was sent" in output
    assert ledger(sandbox) == [] and not (config.parent / "out" / "runs").exists()


def test_a_person_who_agrees_gets_the_run(sandbox: SandboxServer, config: Path) -> None:
    code, output = run_at_a_terminal(config, answer="y")
    assert code == 0, output
    assert len(ledger(sandbox)) == 6


def test_yes_skips_the_question(sandbox: SandboxServer, config: Path) -> None:
    code, output = run_at_a_terminal(config, "--yes")
    assert code == 0, output
    assert QUESTION not in output and len(ledger(sandbox)) == 6


def test_a_forecast_within_confirm_above_is_not_asked_about(sandbox: SandboxServer, tmp_path: Path) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    raw = paid_config(tmp_path, sandbox, budget={"confirm_above": 0.10})  # the forecast is 0.06 USD
    code, output = run_at_a_terminal(write_config(tmp_path, raw))
    assert code == 0, output
    assert QUESTION not in output and len(ledger(sandbox)) == 6


def test_a_script_is_never_asked(sandbox: SandboxServer, config: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(config)])  # stdin is not a terminal
    assert result.exit_code == 0, result.output
    assert QUESTION not in result.output and "Cost forecast" in result.output
    assert len(ledger(sandbox)) == 6
