"""One writer per output, on a local folder: the lease refuses a second run, queues it with --wait,
is taken over once expired, and never lets two runs pay for the same job."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows.edit_catalog import edit_catalog
from tasks.core.errors import BudgetExceeded, LeaseHeld, LeaseLost
from tasks.pipeline.lease import LeaseRecord, OutputLease, hold_output_lease
from tasks.pipeline.manifest import RunSummary
from tasks.sandbox import SandboxServer
from tasks.storage.fs import Storage
from tasks.storage.layout import LEASE_PATH
from tests.reliability.guards_kit import Gate, billed, reset, results, sandbox_config, stats
from tests.sandbox.helpers import fast_settings

ROOT = Path(__file__).parents[2]


class WallClock:
    """A wall clock the test moves by hand (epoch seconds)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(fast_settings()) as server:
        yield server


def _crashed_lease(
    out: Path, *, expired: bool, now: float | None = None, host: str = "old-host", pid: int = 4242
) -> None:
    now = time.time() if now is None else now
    record = LeaseRecord(
        holder="20260101T000000Z-dead00", host=host, pid=pid, token="t",
        acquired_at=now - 600, heartbeat_at=now - 300, expires_at=now - 240 if expired else now + 600,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / LEASE_PATH).write_bytes(record.to_bytes())


def _cli_env(prefect_api: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RETOUCH_TEST_")}
    env.update(PREFECT_API_URL=prefect_api, COLUMNS="200", PYTHONPATH=str(ROOT))
    return env


def _first_to_exit(runs: list[subprocess.Popen[str]], timeout: float) -> subprocess.Popen[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in runs:
            if run.poll() is not None:
                return run
        time.sleep(0.1)  # waiting on another process, which has no clock to inject
    raise AssertionError("neither run ended")


class _OnMessage(logging.Handler):
    def __init__(self, text: str, seen: threading.Event) -> None:
        super().__init__()
        self.text, self.seen = text, seen

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


def _spawn(config: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "flows.cli", "run", str(config), *extra]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _gated_config(directory: Path, gate: Gate, rows: int = 4) -> Path:
    # A long timeout: the holder's first request waits at the gate until the test opens it. Outputs are
    # fetched from the sandbox itself, past the gate: its address is allowed by name.
    settings = {"fashn.edit": {"timeout": 600}}
    allow = [f"{gate.upstream}/"]
    return sandbox_config(directory, gate.base_url, ["fashn.edit"], rows=rows, settings=settings, allow=allow)


@pytest.mark.usefixtures("prefect_harness")
def test_two_runs_started_together_one_runs_the_other_is_refused_naming_the_holder(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    reset(sandbox)
    with Gate(sandbox.base_url) as gate:
        config = _gated_config(tmp_path, gate)
        runs = [_spawn(config, _cli_env(str(PREFECT_API_URL.value()))) for _ in range(2)]
        loser = _first_to_exit(runs, timeout=300)  # the holder is held at the gate meanwhile
        gate.open()
        outputs = {id(run): run.communicate(timeout=300)[0] for run in runs}
    winner = runs[1 - runs.index(loser)]
    assert (winner.returncode, loser.returncode) == (0, 2), outputs
    refused = outputs[id(loser)]
    assert "is in use by run" in refused and "on host" in refused and "expires at" in refused, refused
    assert "--wait" in refused
    table = results(tmp_path / "out")
    succeeded = table.filter(pl.col("status") == "succeeded")
    assert succeeded.height == succeeded["job_key"].n_unique() == 4  # no duplicate rows
    requests = [entry["request_id"] for entry in billed(sandbox)]
    assert len(requests) == len(set(requests)) == 4  # each job billed once
    assert not (tmp_path / "out" / LEASE_PATH).exists()  # released at the end


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_with_wait_queues_behind_the_holder_then_finds_the_work_done(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    reset(sandbox)
    waiting = threading.Event()
    watcher = _OnMessage("waiting (up to", waiting)
    logging.getLogger("tasks.pipeline.lease").addHandler(watcher)
    try:
        with Gate(sandbox.base_url) as gate:
            config = _gated_config(tmp_path, gate)
            holder = _spawn(config, _cli_env(str(PREFECT_API_URL.value())))
            assert gate.arrived.wait(timeout=300), "the first run never sent a request"
            queued: list[RunSummary] = []
            second = threading.Thread(target=lambda: queued.append(edit_catalog(str(config), wait=300)))
            second.start()
            assert waiting.wait(timeout=120), "the second run did not queue"
            gate.open()
            output = holder.communicate(timeout=300)[0]
            second.join(timeout=300)
    finally:
        logging.getLogger("tasks.pipeline.lease").removeHandler(watcher)
    assert holder.returncode == 0, output
    assert queued[0].planned == 4 and queued[0].already_done == 4 and queued[0].counts == {}
    requests = [entry["request_id"] for entry in billed(sandbox)]
    assert len(requests) == len(set(requests)) == 4  # the queued run bought nothing again


@pytest.mark.usefixtures("prefect_harness")
def test_a_live_lease_refuses_the_run_before_anything_is_sent_or_written(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    reset(sandbox)
    config = sandbox_config(tmp_path, sandbox.base_url, ["fashn.edit"], rows=2)
    _crashed_lease(tmp_path / "out", expired=False)
    with pytest.raises(LeaseHeld, match=r"in use by run 20260101T000000Z-dead00 on host old-host \(pid 4242\)") as info:
        edit_catalog(str(config))
    assert info.value.holder == "20260101T000000Z-dead00" and info.value.host == "old-host"
    assert stats(sandbox, "fashn.edit")["requests"] == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [LEASE_PATH]
    assert edit_catalog(str(config), dry_run=True).planned == 2  # a dry run writes nothing: no lease needed


@pytest.mark.usefixtures("prefect_harness")
def test_a_crashed_runs_expired_lease_is_taken_over(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox)
    config = sandbox_config(tmp_path, sandbox.base_url, ["fashn.edit"], rows=2)
    _crashed_lease(tmp_path / "out", expired=True)
    assert edit_catalog(str(config)).counts == {"succeeded": 2}
    assert not (tmp_path / "out" / LEASE_PATH).exists()


@pytest.mark.usefixtures("prefect_harness")
def test_the_lease_is_released_when_the_run_fails(tmp_path: Path) -> None:
    config = sandbox_config(tmp_path, "http://127.0.0.1:9", ["fashn.edit"], rows=2)
    raw = yaml.safe_load(config.read_text())
    raw["budget"] = {"max_credits": 0.5}
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(BudgetExceeded):
        edit_catalog(str(config))
    assert not (tmp_path / "out" / LEASE_PATH).exists()


def test_of_two_runs_taking_over_one_expired_lease_exactly_one_wins(tmp_path: Path) -> None:
    clock = WallClock()
    _crashed_lease(tmp_path, expired=True, now=clock.now)
    storage = Storage(str(tmp_path))
    contenders = [OutputLease(storage, f"run-{i}", now=clock) for i in range(8)]
    outcomes: list[str] = []
    start = threading.Barrier(len(contenders))

    def contend(lease: OutputLease) -> None:
        start.wait()
        try:
            lease.acquire()
            outcomes.append("won")
        except LeaseHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    winner = next(lease for lease in contenders if lease.held is not None)
    on_disk = LeaseRecord.from_bytes((tmp_path / LEASE_PATH).read_bytes())
    assert on_disk is not None and on_disk.holder == winner.run_id


def test_the_heartbeat_keeps_a_lease_alive_and_a_stalled_one_is_lost(tmp_path: Path) -> None:
    clock = WallClock()
    storage = Storage(str(tmp_path))
    first = OutputLease(storage, "run-first", ttl=60, now=clock)
    first.acquire()
    clock.advance(50)
    assert first.renew().expires_at == clock.now + 60  # renewed before it ran out
    clock.advance(50)
    with pytest.raises(LeaseHeld, match="run-first"):  # 100 s after it was taken, still alive
        OutputLease(storage, "run-second", now=clock).acquire()
    clock.advance(61)  # the holder stalled past its expiry
    second = OutputLease(storage, "run-second", now=clock)
    second.acquire()
    with pytest.raises(LeaseLost, match="now held by run run-second"):
        first.renew()
    first.release()  # not its lease any more: left alone
    assert json.loads((tmp_path / LEASE_PATH).read_bytes())["holder"] == "run-second"


def test_wait_is_bounded_and_takes_the_lease_once_the_holder_releases(tmp_path: Path) -> None:
    clock = WallClock()
    storage = Storage(str(tmp_path))
    holder = OutputLease(storage, "run-holder", ttl=3600, now=clock)
    holder.acquire()
    waiter = OutputLease(storage, "run-waiter", now=clock)
    with pytest.raises(LeaseHeld):
        waiter.acquire_waiting(30, sleep=clock.advance)
    assert clock.now == 1_800_000_030.0  # gave up after exactly the bound, on the injected clock

    def sleep_then_release(seconds: float) -> None:
        clock.advance(seconds)
        holder.release()

    assert waiter.acquire_waiting(30, sleep=sleep_then_release).holder == "run-waiter"


def test_a_live_lease_of_a_process_gone_from_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _crashed_lease(tmp_path, expired=False, host=socket.gethostname(), pid=int(ended.stdout))
    lease = OutputLease(Storage(str(tmp_path)), "run-next")
    assert lease.acquire().holder == "run-next"  # not 600 s later: the SIGKILLed holder cannot come back


def test_a_live_lease_of_a_running_process_on_this_host_is_respected(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as holder:
        try:
            _crashed_lease(tmp_path, expired=False, host=socket.gethostname(), pid=holder.pid)
            with pytest.raises(LeaseHeld):
                OutputLease(Storage(str(tmp_path)), "run-next").acquire()
        finally:
            holder.kill()


def test_a_half_written_lease_from_a_crash_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LEASE_PATH).write_bytes(b'{"holder": "20260101T0')
    lease = OutputLease(Storage(str(tmp_path)), "run-next")
    assert lease.acquire().holder == "run-next"


def test_hold_output_lease_beats_while_held_and_releases(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    with hold_output_lease(OutputLease(storage, "run-beating", ttl=0.3)) as lease:
        first = lease.held
        assert first is not None
        deadline = time.monotonic() + 10
        while lease.held is not None and lease.held.heartbeat_at == first.heartbeat_at:
            assert time.monotonic() < deadline, "no heartbeat within 10 s"
            time.sleep(0.02)
        on_disk = LeaseRecord.from_bytes((tmp_path / LEASE_PATH).read_bytes())
        assert on_disk is not None and on_disk.expires_at > first.expires_at
    assert not (tmp_path / LEASE_PATH).exists()
