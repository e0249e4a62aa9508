"""Retry the write, not the job: output storage that fails mid-run never makes retouch buy a job twice.

The failing storage is a real fsspec filesystem (`failfs://`, a LocalFileSystem subclass) whose writes
start failing with ENOSPC after a budget; tests run as root, where chmod does not stop writes.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.config import OutputConfig, RetrySettings
from tasks.core.errors import StorageError
from tasks.http import RetryPolicy
from tasks.pipeline.journal import read_journal
from tasks.pipeline.spool import Spool, spool_dir
from tasks.pipeline.writes import StorageGuard, retry_write
from tasks.sandbox import SandboxServer
from tasks.storage.fs import Storage
from tests.fakes import FakeClock
from tests.reliability.kit import (
    FailingFileSystem,
    bill,
    billed_twice,
    join_on_request_id,
    reset,
    results,
    sandbox_config,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(autouse=True)
def healthy_storage() -> None:
    FailingFileSystem.reset()


def _config(tmp_path: Path, base_url: str, rows: int = 6) -> Path:
    return sandbox_config(
        tmp_path,
        base_url,
        rows=rows,
        output=f"failfs://{tmp_path / 'out'}",
        providers={"picsart.outpaint": {"mode": "sync"}},  # one sync lane: no provider id to journal
        execution={"checkpoint_seconds": 0.05, "concurrency": 4, "shard_size": 50},
    )


def test_a_disk_that_fills_mid_run_stops_the_run_and_the_rerun_buys_nothing_twice(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    reset(sandbox.base_url)
    path = _config(tmp_path, sandbox.base_url)
    FailingFileSystem.reset(budget=25)  # the disk fills after 25 writes: a few jobs in
    with pytest.raises(StorageError, match=r"stopped: writing under failfs://.* kept failing") as stop:
        edit_catalog(str(path))
    assert str(tmp_path / "spool") in str(stop.value) and "without buying them again" in str(stop.value)
    first_bill = bill(sandbox.base_url)
    assert first_bill and billed_twice(sandbox.base_url) == {}
    assert Spool(next((tmp_path / "spool").iterdir())).entries()  # paid-for outputs waiting on local disk

    FailingFileSystem.reset()  # space freed
    summary = edit_catalog(str(path))
    out = tmp_path / "out"
    assert billed_twice(sandbox.base_url) == {}  # the audit found 46-75 jobs billed 2-3x here
    table = results(out)
    succeeded = table.filter(pl.col("status") == "succeeded")
    assert succeeded.height == 24 and succeeded["job_key"].n_unique() == 24  # one row each, none lost
    assert summary.counts["succeeded"] < 24  # the rest were adopted, not bought again
    for uri, digest in succeeded.select("output_uri", "sha256").iter_rows():
        assert hashlib.sha256(Path(uri.removeprefix("failfs://")).read_bytes()).hexdigest() == digest
    assert all(abs(billed - recorded) < 1e-9 for billed, recorded in join_on_request_id(sandbox.base_url, out).values())
    assert read_journal(Storage(str(out))).intents == {} and not list(out.rglob(".*.tmp"))
    assert not Spool(next((tmp_path / "spool").iterdir())).entries()


def test_a_brief_outage_is_retried_per_write_and_the_run_completes(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url)
    path = _config(tmp_path, sandbox.base_url, rows=4)
    FailingFileSystem.reset(after=10, outage=3)  # mid-run, three writes fail, then the disk is back
    summary = edit_catalog(str(path))
    assert summary.counts == {"succeeded": 16} and FailingFileSystem.failed == 3
    assert billed_twice(sandbox.base_url) == {} and len(bill(sandbox.base_url)) == 16
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").rglob("record.json"))


def test_storage_dead_from_the_start_sends_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url)
    path = _config(tmp_path, sandbox.base_url, rows=2)
    FailingFileSystem.reset(budget=0)
    with pytest.raises(StorageError):
        edit_catalog(str(path))
    assert bill(sandbox.base_url) == []  # no intent could be journaled, so no submit left


def test_a_rerun_with_storage_still_down_stops_before_sending_anything(sandbox: SandboxServer, tmp_path: Path) -> None:
    reset(sandbox.base_url)
    path = _config(tmp_path, sandbox.base_url, rows=4)
    FailingFileSystem.reset(budget=20)
    with pytest.raises(StorageError):
        edit_catalog(str(path))
    charges = len(bill(sandbox.base_url))
    FailingFileSystem.reset(budget=0)
    with pytest.raises(StorageError, match="cannot write"):
        edit_catalog(str(path))  # adopting the spool fails first: nothing new is bought
    assert len(bill(sandbox.base_url)) == charges


def test_a_failed_local_write_leaves_no_temp_file(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    (tmp_path / "images" / "v" / "ab").mkdir(parents=True)
    (tmp_path / "images" / "v" / "ab" / "abc_0.png").mkdir()  # the rename onto a folder fails
    with pytest.raises(StorageError, match=r"abc_0\.png"):
        storage.write_bytes("images/v/ab/abc_0.png", b"x" * 100)
    assert list(tmp_path.rglob("*.tmp")) == []


def test_a_full_disk_leaves_no_temp_files(tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    try:
        storage = Storage(str(mount))
        with pytest.raises(StorageError, match="No space left"):
            for index in range(100):
                storage.write_bytes(f"images/v/ab/job_{index}.png", b"x" * 8192)
        assert list(mount.rglob("*.tmp")) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_each_output_has_its_own_spool_and_the_folder_is_configurable(tmp_path: Path) -> None:
    one, two = OutputConfig(uri="s3://bucket/a"), OutputConfig(uri="s3://bucket/b")
    assert spool_dir(one) != spool_dir(two) and spool_dir(one) == spool_dir(OutputConfig(uri="s3://bucket/a/"))
    assert spool_dir(OutputConfig(uri="s3://bucket/a", spool_dir=str(tmp_path))).parent == tmp_path


def test_a_failing_write_backs_off_on_the_clock_then_stops_the_run() -> None:
    import asyncio

    clock, guard, calls = FakeClock(), StorageGuard(), []
    policy = RetryPolicy(attempts=4, base=1.0, cap=3.0, jitter=0.0, total=60.0)

    def write() -> None:
        calls.append(clock.monotonic())
        raise OSError(28, "No space left on device")

    with pytest.raises(StorageError, match="No space left"):
        asyncio.run(retry_write(write, policy, clock=clock, guard=guard))
    assert calls == [0.0, 1.0, 3.0, 6.0]  # waits of 1, 2, then capped at 3
    assert guard.tripped
    calls.clear()
    with pytest.raises(StorageError):
        asyncio.run(retry_write(write, policy, clock=clock, guard=guard))
    assert len(calls) == 1  # once the run is stopping, a write is tried once


def test_a_first_attempt_made_by_the_caller_counts_against_the_policy() -> None:
    import asyncio

    clock, guard, calls = FakeClock(), StorageGuard(), []
    policy = RetryPolicy(attempts=3, base=1.0, cap=3.0, jitter=0.0, total=60.0)

    def write() -> str:
        calls.append(clock.monotonic())
        if len(calls) < 2:
            raise OSError(5, "Input/output error")
        return "written"

    failed = OSError(28, "No space left on device")  # the caller's own first attempt (Keeper.store's thread trip)
    assert asyncio.run(retry_write(write, policy, clock=clock, guard=guard, failed=failed)) == "written"
    assert calls == [1.0, 3.0]  # the first backoff comes before the second attempt; three attempts in all
    assert not guard.tripped
    calls.clear()
    with pytest.raises(StorageError, match="No space left"):
        asyncio.run(retry_write(write, RetryPolicy(attempts=1), clock=clock, guard=guard, failed=failed))
    assert calls == [] and guard.tripped  # a one-attempt policy was spent by the caller's attempt


def test_write_retry_defaults_come_from_the_config() -> None:
    settings = OutputConfig(uri="out").write_retry
    assert isinstance(settings, RetrySettings) and settings.attempts > 1 and settings.total <= 120
