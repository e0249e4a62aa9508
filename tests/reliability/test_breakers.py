"""Circuit breakers per provider, against the real sandbox: a wrong key, spent credits or a dead
address stop that provider's lane within a few requests, its jobs end `skipped`, other lanes go on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.edit_catalog import edit_catalog
from tasks.core.errors import AuthError, InvalidRequest, LaneStopped, ProviderUnreachable
from tasks.pipeline.breaker import Breaker
from tasks.sandbox import SandboxServer
from tests.reliability.guards_kit import billed, key_variable, reset, results, sandbox_config, stats
from tests.sandbox.helpers import fast_settings

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROWS = 20


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(fast_settings()) as server:
        yield server


@pytest.fixture(scope="module")
def poor_sandbox() -> Iterator[SandboxServer]:
    """Every account starts with credits for six jobs (pixapi's model costs 2 per image)."""
    low = {"keys": {"sandbox-key": {"credits": 6}}}
    with SandboxServer(
        fast_settings(picsart=low, fashn=low, pixapi={"keys": {"sandbox-key": {"credits": 12}}})
    ) as server:
        yield server


def _per_job(out: Path, provider: str) -> pl.DataFrame:
    return results(out).filter(pl.col("provider") == provider).unique(subset=["job_key"])


def test_a_wrong_key_stops_its_lane_within_two_requests_and_the_other_lane_finishes(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset(sandbox)
    monkeypatch.setenv(key_variable("picsart.edit"), "pk-wrong-key")
    config = sandbox_config(
        tmp_path, sandbox.base_url, ["picsart.edit", "fashn.edit"], rows=ROWS, execution={"shard_size": 5}
    )
    summary = edit_catalog(str(config))
    assert stats(sandbox, "picsart.edit")["requests"] <= 10  # 2 probes in practice: 401, then nothing new
    assert stats(sandbox, "picsart.edit")["statuses"] == {"401": stats(sandbox, "picsart.edit")["requests"]}
    picsart = _per_job(tmp_path / "out", "picsart.edit")
    assert picsart.height == ROWS  # every job ends as a row
    assert set(picsart["status"]) <= {"failed", "skipped"}
    assert set(picsart.filter(pl.col("status") == "failed")["error_type"]) == {AuthError.__name__}
    skipped = picsart.filter(pl.col("status") == "skipped")
    assert skipped.height >= ROWS - 10 and set(skipped["error_type"]) == {LaneStopped.__name__}
    assert skipped["error_message"].str.contains("auth breaker open").all()
    assert "auth breaker" in summary.lanes_stopped["picsart.edit"]
    fashn = _per_job(tmp_path / "out", "fashn.edit")
    assert fashn.height == ROWS and set(fashn["status"]) == {"succeeded"}  # the healthy lane went on
    assert "fashn.edit" not in summary.lanes_stopped


def test_retouch_run_exits_1_and_names_the_stopped_lane(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset(sandbox)
    monkeypatch.setenv(key_variable("fashn.edit"), "fa-wrong-key")
    config = sandbox_config(tmp_path, sandbox.base_url, ["fashn.edit"], rows=6)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["run", str(config)])
    assert result.exit_code == 1, result.output
    assert "lane stopped" in result.output and "fashn.edit" in result.output and "auth breaker" in result.output
    assert "fa-wrong-key" not in result.output
    assert stats(sandbox, "fashn.edit")["requests"] <= 10


@pytest.mark.parametrize(
    ("provider", "refusal"), [("picsart.edit", "402"), ("pixapi.edits", "402"), ("fashn.edit", "429")]
)
def test_credits_running_out_mid_run_stop_the_lane(
    poor_sandbox: SandboxServer, tmp_path: Path, provider: str, refusal: str
) -> None:
    reset(poor_sandbox)
    config = sandbox_config(tmp_path, poor_sandbox.base_url, [provider], rows=ROWS)
    # Told to go on past the balance check (which would stop the run before it sends anything), as when
    # another client spends the account meanwhile: the credits run out mid-run.
    summary = edit_catalog(str(config), proceed_to_cap=True)
    refused = stats(poor_sandbox, provider)["statuses"].get(refusal, 0)
    assert 1 <= refused <= 10  # the first refusal, plus at most what was already on the wire
    assert len(billed(poor_sandbox)) == 6  # the six jobs the credits paid for, each once
    per_job = _per_job(tmp_path / "out", provider)
    assert per_job.height == ROWS
    assert per_job.filter(pl.col("status") == "succeeded").height == 6
    assert per_job.filter(pl.col("status") == "skipped").height >= ROWS - 6 - 10
    assert "credits breaker" in summary.lanes_stopped[provider]


def test_skipped_jobs_run_on_the_next_run_and_nothing_is_billed_twice(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset(sandbox)
    monkeypatch.setenv(key_variable("pixapi.edits"), "px-wrong")
    config = sandbox_config(tmp_path, sandbox.base_url, ["pixapi.edits"], rows=8)
    first = edit_catalog(str(config))
    assert first.counts.get("succeeded", 0) == 0 and first.lanes_stopped
    monkeypatch.delenv(key_variable("pixapi.edits"))
    second = edit_catalog(str(config))
    assert second.counts == {"succeeded": 8} and second.lanes_stopped == {}
    requests = [entry["request_id"] for entry in billed(sandbox)]
    assert len(requests) == len(set(requests)) == 8


def test_a_dead_address_stops_the_lane_after_a_run_of_connection_failures(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = sandbox_config(tmp_path, dead, ["picsart.edit"], rows=ROWS)
    summary = edit_catalog(str(config))
    per_job = _per_job(tmp_path / "out", "picsart.edit")
    assert per_job.height == ROWS
    failed = per_job.filter(pl.col("status") == "failed")
    assert set(failed["error_type"]) == {ProviderUnreachable.__name__} and 5 <= failed.height < ROWS
    assert set(per_job.filter(pl.col("status") == "skipped")["error_type"]) == {LaneStopped.__name__}
    assert "connection breaker" in summary.lanes_stopped["picsart.edit"]


def test_until_a_success_only_the_probes_are_in_flight_across_threads() -> None:
    breaker = Breaker("picsart.edit", probes=2)
    inside, peak, done, lock = [0], [0], [0], threading.Lock()
    rejected = InvalidRequest("picsart.edit: HTTP 400", status_code=400)  # an answer, but no proof of the key

    async def submit() -> None:
        async with breaker.admit():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            await asyncio.sleep(0.005)
            with lock:
                inside[0] -= 1
                done[0] += 1
        breaker.record(rejected)

    def shard() -> None:  # each shard has its own thread and event loop, as under the flow's task runner
        async def many() -> None:
            await asyncio.gather(*(submit() for _ in range(10)))

        asyncio.run(many())

    threads = [threading.Thread(target=shard) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert peak[0] == 2 and done[0] == 20  # never more than the probes, and every waiter got its turn
    assert breaker.stop is None


def test_an_open_breaker_refuses_waiters_and_names_the_breaker() -> None:
    breaker = Breaker("fashn.edit", probes=1)

    async def scenario() -> list[str]:
        outcomes: list[str] = []

        async def submit(fail: bool) -> None:
            try:
                async with breaker.admit():
                    await asyncio.sleep(0)
                    if fail:
                        breaker.record(AuthError("fashn.edit: HTTP 401 UnauthorizedAccess", status_code=401))
                outcomes.append("sent")
            except LaneStopped as error:
                outcomes.append(f"stopped:{error.breaker}")

        await asyncio.gather(submit(True), submit(False), submit(False))
        return outcomes

    assert asyncio.run(scenario()) == ["sent", "stopped:auth", "stopped:auth"]
    assert breaker.stop is not None and breaker.stop.breaker == "auth"


def test_an_answer_between_connection_failures_resets_the_count() -> None:
    breaker = Breaker("pixapi.edits", connection_failures=3)
    unreachable = ProviderUnreachable("pixapi.edits: could not connect (ConnectError)")
    for _ in range(2):
        breaker.record(unreachable)
    breaker.record(InvalidRequest("pixapi.edits: HTTP 400", status_code=400))  # the provider answered
    for _ in range(2):
        breaker.record(unreachable)
    assert breaker.stop is None
    breaker.record(unreachable)
    assert breaker.stop is not None and breaker.stop.breaker == "connection"
    with pytest.raises(LaneStopped, match="3 connection failures in a row"):
        breaker.check()
