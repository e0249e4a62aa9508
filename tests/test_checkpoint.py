"""Checkpoints on real storage: when rows become durable, that parts are whole, the journal of accepted
async jobs, and resuming a run from what earlier runs made durable (without Prefect)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.core.config import PipelineConfig, parse_config
from tasks.core.errors import StorageError
from tasks.core.models import Accepted, EditJob, EditResult, ImageRef, JobStatus
from tasks.costs.ledger import read_ledger
from tasks.http import LimiterRegistry
from tasks.pipeline.checkpoint import Checkpointer, read_pending
from tasks.pipeline.executor import run_shard
from tasks.pipeline.journal import read_journal
from tasks.pipeline.shards import PlanCounts, Planner
from tasks.storage import Storage
from tasks.storage.layout import LEDGER_DIR, PENDING_DIR, RESULTS_DIR
from tasks.storage.results import prior_work, read_results, write_results_part
from tests.fakes import FakeClock
from tests.helpers import local_config, make_catalog

NEVER = 3600.0  # an every_seconds that never fires within a test


def _job(key: str) -> EditJob:
    return EditJob(
        job_key=key,
        row_id=f"row-{key}",
        variant="v",
        provider="local",
        model=None,
        prompt="brightness 1.2",
        params_json="{}",
        seed=1,
        count=1,
        image=ImageRef("path", f"/data/{key}.png"),
    )


def _result(key: str, status: JobStatus = "succeeded") -> EditResult:
    return EditResult(job=_job(key), status=status, run_id="run-1", attempts=1, started_at=1_000.0, finished_at=1_001.0)


def _ledger_row(key: str) -> dict[str, Any]:
    return {"run_id": "run-1", "provider": "local", "job_key": key, "status": "succeeded", "credits": 1.0, "images": 1}


def _keys(storage: Storage) -> list[str]:
    return sorted(read_results(storage, columns=["job_key"]).get_column("job_key").to_list())


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a flush running in a worker thread (asyncio.to_thread) to land.

    Not a wait for time to pass: virtual time is driven by the FakeClock; this only gives the thread
    the real moment it needs, bounded so a flush that never comes fails instead of hanging.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


class RecordingStorage(Storage):
    """Real storage that also records, in order, the relative path of every write (and its time on
    `clock`, when one is given)."""

    def __init__(self, uri: str, clock: FakeClock | None = None) -> None:
        super().__init__(uri)
        self.clock = clock
        self.writes: list[str] = []
        self.times: list[float] = []

    def write_bytes(self, relative: str, data: bytes, *, atomic: bool = True) -> str:
        self.writes.append(relative)
        if self.clock is not None:
            self.times.append(self.clock.monotonic())
        return super().write_bytes(relative, data, atomic=atomic)


@pytest.fixture
def storage(tmp_path: Path) -> RecordingStorage:
    return RecordingStorage(str(tmp_path / "out"))


@pytest.fixture
def memory_uri() -> Iterator[str]:
    uri = f"memory://retouch-test-{uuid.uuid4().hex}"
    yield uri
    storage = Storage(uri)  # memory:// is one store per process: leave nothing for other tests
    if storage.fs.exists(storage.root):
        storage.fs.rm(storage.root, recursive=True)


# --- when rows become durable ------------------------------------------------------------------------


def test_rows_become_durable_every_rows(storage: RecordingStorage) -> None:
    async def scenario() -> list[list[str]]:
        seen = []
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=2) as checkpoint:
            await checkpoint.add(_result("a"))
            seen.append(_keys(storage))
            await checkpoint.add(_result("b"))
            seen.append(_keys(storage))
            await checkpoint.add(_result("c"))
            seen.append(_keys(storage))
        seen.append(_keys(storage))
        return seen

    assert asyncio.run(scenario()) == [[], ["a", "b"], ["a", "b"], ["a", "b", "c"]]
    assert len(storage.list(RESULTS_DIR, ".parquet")) == 2


def test_rows_become_durable_every_seconds_of_the_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    storage = RecordingStorage(str(tmp_path / "out"), clock)

    async def scenario() -> tuple[list[str], list[str]]:
        checkpoint = Checkpointer(storage, run_id="run-1", every_seconds=5.0, every_rows=1_000, clock=clock)
        async with checkpoint:
            await checkpoint.add(_result("a"))
            await clock.sleep(4.9)
            before = _keys(storage)
            await clock.sleep(0.2)  # the ticker's 5 s pass meanwhile
            await _until(lambda: bool(checkpoint.parts), "the periodic flush")
            after = _keys(storage)
        return before, after

    before, after = asyncio.run(scenario())

    assert before == []
    assert after == ["a"]
    # One part, written by the ticker's first turn: once 5 s had passed, before a second turn was due.
    assert len(storage.writes) == 1 and storage.writes[0].startswith(f"{RESULTS_DIR}/")
    assert 5.0 <= storage.times[0] < 10.0


def test_buffered_rows_become_durable_on_exit(storage: RecordingStorage) -> None:
    async def scenario() -> list[str]:
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=1_000) as checkpoint:
            await checkpoint.add(_result("a"), [_ledger_row("a")])
            await checkpoint.add(_result("b", status="failed"))
            assert _keys(storage) == []
        return checkpoint.parts

    parts = asyncio.run(scenario())

    assert len(parts) == 1
    assert _keys(storage) == ["a", "b"]
    assert read_ledger(storage).get_column("job_key").to_list() == ["a"]


def test_the_ledger_part_is_written_before_the_results_part(storage: RecordingStorage) -> None:
    async def scenario() -> None:
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=2) as checkpoint:
            for key in ("a", "b", "c", "d"):
                await checkpoint.add(_result(key), [_ledger_row(key)])

    asyncio.run(scenario())

    folders = [path.split("/", 1)[0] for path in storage.writes]
    assert folders == [LEDGER_DIR, RESULTS_DIR, LEDGER_DIR, RESULTS_DIR]


class GatedStorage(RecordingStorage):
    """Real storage whose first write waits (in its worker thread) until the test opens the gate."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.writing = threading.Event()
        self.gate = threading.Event()

    def write_bytes(self, relative: str, data: bytes) -> str:
        if not self.writing.is_set():
            self.writing.set()
            assert self.gate.wait(timeout=5.0), "the test never opened the gate"
        return super().write_bytes(relative, data)


def test_rows_are_durable_after_exit_even_if_exit_interrupts_a_periodic_flush(tmp_path: Path) -> None:
    # The shard ends while the ticker is writing a checkpoint: a common case when flushes take a
    # while (object storage, big batches). The rows in that flush must not be lost.
    storage = GatedStorage(str(tmp_path / "out"))
    clock = FakeClock()

    async def scenario() -> None:
        async with Checkpointer(
            storage, run_id="run-1", every_seconds=5.0, every_rows=1_000, clock=clock
        ) as checkpoint:
            await checkpoint.add(_result("a"), [_ledger_row("a")])
            await _until(storage.writing.is_set, "the periodic flush to start writing")
            await checkpoint.add(_result("b"), [_ledger_row("b")])
            # Opens the gate once the exit below has begun (it cancels the ticker before its first await).
            asyncio.get_running_loop().call_soon(storage.gate.set)

    asyncio.run(scenario())

    assert _keys(storage) == ["a", "b"]
    assert sorted(read_ledger(storage).get_column("job_key").to_list()) == ["a", "b"]


# --- parts are whole ---------------------------------------------------------------------------------


def test_every_part_is_a_complete_parquet_file_and_no_temporary_file_remains(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "out"))
    stop = threading.Event()
    reads: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:  # reads the table the whole time the checkpointer writes it
        while not stop.is_set():
            try:
                reads.append(read_results(storage).height)
            except BaseException as error:
                errors.append(error)
                return

    async def scenario() -> None:
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=3) as checkpoint:
            for index in range(60):
                await checkpoint.add(_result(f"k{index:02d}"), [_ledger_row(f"k{index:02d}")])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        asyncio.run(scenario())
    finally:
        stop.set()
        thread.join(timeout=10)

    assert errors == []
    assert reads == sorted(reads)  # a reader only ever sees whole parts appear, never rows vanish
    files = [path for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert not [path for path in files if path.name.endswith(".tmp") or path.name.startswith(".")]
    parts = [path for path in files if path.suffix == ".parquet"]
    assert len(parts) == 40  # 20 results parts and 20 ledger parts
    assert sum(pl.read_parquet(path).height for path in parts if path.parent.name == RESULTS_DIR) == 60
    assert sum(pl.read_parquet(path).height for path in parts if path.parent.name == LEDGER_DIR) == 60


# --- the journal of accepted async jobs -----------------------------------------------------------------


ACCEPTED = Accepted(
    provider="fashn.edit",
    provider_job_id="pred-123",
    request_id="req-9",
    correlation_id="corr-1",
    credits_available=41.5,
    detail_json='{"format": "png"}',
)


def test_a_journaled_job_reads_back_as_an_equal_accepted(storage: RecordingStorage) -> None:
    async def scenario() -> None:
        checkpoint = Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=10)
        await checkpoint.record_accepted(_job("a"), ACCEPTED)

    asyncio.run(scenario())

    assert storage.list(PENDING_DIR, ".json") == [f"{PENDING_DIR}/a.json"]
    assert read_pending(Storage(storage.uri)) == {"a": ACCEPTED}


def test_a_journal_entry_goes_only_once_its_result_is_durable(storage: RecordingStorage) -> None:
    async def scenario() -> list[dict[str, Accepted]]:
        seen = []
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=10) as checkpoint:
            await checkpoint.record_accepted(_job("a"), ACCEPTED)
            await checkpoint.record_accepted(_job("b"), replace(ACCEPTED, provider_job_id="pred-456"))
            await checkpoint.add(_result("a"))
            seen.append(read_pending(storage))  # buffered only: both entries stay
            await checkpoint.flush()
            seen.append(read_pending(storage))
        return seen

    buffered, flushed = asyncio.run(scenario())

    assert set(buffered) == {"a", "b"}
    assert flushed == {"b": replace(ACCEPTED, provider_job_id="pred-456")}  # b's result never came
    assert _keys(storage) == ["a"]


def test_a_journal_entry_outlives_a_crash_before_its_result_was_flushed(storage: RecordingStorage) -> None:
    async def crashed_run() -> None:
        # Never flushed nor exited: what a killed process leaves behind.
        checkpoint = Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=10)
        await checkpoint.record_accepted(_job("a"), ACCEPTED)
        await checkpoint.add(_result("a"))

    asyncio.run(crashed_run())

    assert read_pending(Storage(storage.uri)) == {"a": ACCEPTED}
    assert _keys(storage) == []


def test_a_resumed_job_clears_the_earlier_runs_entry_once_its_result_is_durable(storage: RecordingStorage) -> None:
    async def earlier_run() -> None:
        await Checkpointer(storage, run_id="run-0", every_seconds=NEVER, every_rows=10).record_accepted(
            _job("a"), ACCEPTED
        )

    async def resuming_run() -> None:
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=10) as checkpoint:
            checkpoint.track("a")
            await checkpoint.add(_result("a"))

    asyncio.run(earlier_run())
    assert set(read_pending(storage)) == {"a"}
    asyncio.run(resuming_run())

    assert read_pending(storage) == {}
    assert _keys(storage) == ["a"]


def test_a_failed_results_write_keeps_the_journal_entry(storage: RecordingStorage, tmp_path: Path) -> None:
    class FailingResults(RecordingStorage):
        def write_bytes(self, relative: str, data: bytes, *, atomic: bool = True) -> str:
            if relative.startswith(f"{RESULTS_DIR}/"):
                raise StorageError(f"cannot write {relative}: disk full")
            return super().write_bytes(relative, data, atomic=atomic)

    failing = FailingResults(storage.uri)

    async def scenario() -> None:
        checkpoint = Checkpointer(failing, run_id="run-1", every_seconds=NEVER, every_rows=10)
        await checkpoint.record_accepted(_job("a"), ACCEPTED)
        await checkpoint.add(_result("a"), [_ledger_row("a")])
        await checkpoint.flush()

    with pytest.raises(StorageError, match="disk full"):
        asyncio.run(scenario())

    assert read_pending(storage) == {"a": ACCEPTED}  # the job will be polled again, not re-submitted
    assert read_ledger(storage).get_column("job_key").to_list() == ["a"]  # the bill is never hidden


def test_unreadable_journal_entries_are_not_fatal(storage: RecordingStorage) -> None:
    asyncio.run(
        Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=10).record_accepted(
            _job("good"), ACCEPTED
        )
    )
    storage.write_bytes(f"{PENDING_DIR}/truncated.json", b'{"job_key": "t", "provider": "fash')
    storage.write_bytes(f"{PENDING_DIR}/no-key.json", json.dumps({"provider": "x", "provider_job_id": "1"}).encode())
    storage.write_bytes(f"{PENDING_DIR}/no-id.json", json.dumps({"job_key": "n", "provider": "x"}).encode())
    storage.write_bytes(
        f"{PENDING_DIR}/extra.json",
        json.dumps({"job_key": "e", "provider": "x", "provider_job_id": "1", "new": 1}).encode(),
    )
    storage.write_bytes(f"{PENDING_DIR}/not-an-object.json", b"[1, 2]")
    storage.write_bytes(f"{PENDING_DIR}/notes.txt", b"not a journal entry")

    # The file name is the job key. An entry with a provider id is polled (unknown fields are ignored); one
    # with no id is an intent (its job may have been sent: held); one that cannot be read is an intent cut
    # short, whose submit never left.
    scan = read_journal(storage)
    assert scan.accepted == {
        "good": ACCEPTED,
        "no-key": Accepted(provider="x", provider_job_id="1"),
        "extra": Accepted(provider="x", provider_job_id="1"),
    }
    assert set(scan.intents) == {"no-id"} and scan.torn == {"truncated", "not-an-object"}
    assert read_pending(storage) == scan.accepted


def test_the_journal_and_parts_work_on_memory_storage(memory_uri: str) -> None:
    storage = Storage(memory_uri)

    async def scenario() -> list[dict[str, Accepted]]:
        seen = []
        async with Checkpointer(storage, run_id="run-1", every_seconds=NEVER, every_rows=2) as checkpoint:
            await checkpoint.record_accepted(_job("a"), ACCEPTED)
            seen.append(read_pending(Storage(memory_uri)))
            await checkpoint.add(_result("a"), [_ledger_row("a")])
            await checkpoint.add(_result("b"), [_ledger_row("b")])
            seen.append(read_pending(Storage(memory_uri)))
        return seen

    journaled, flushed = asyncio.run(scenario())

    assert journaled == {"a": ACCEPTED}
    assert flushed == {}
    reopened = Storage(memory_uri)
    assert _keys(reopened) == ["a", "b"]
    [part] = reopened.list(RESULTS_DIR, ".parquet")
    assert pl.read_parquet(io.BytesIO(reopened.read_bytes(part))).height == 2
    assert sorted(read_ledger(reopened).get_column("job_key").to_list()) == ["a", "b"]


# --- resuming from what earlier runs made durable ----------------------------------------------------------


def _config(tmp_path: Path, prompts: list[str] | None = None, **providers: dict[str, Any]) -> PipelineConfig:
    catalog = make_catalog(tmp_path / "catalog", rows=3, prompts=prompts)
    raw = local_config(
        catalog, tmp_path / "out", execution={"checkpoint_rows": 4}, **({"providers": providers} if providers else {})
    )
    return parse_config(raw)


def _plan(config: PipelineConfig) -> tuple[list[EditJob], PlanCounts]:
    planner = Planner(config, prior_work(Storage(config.output.uri)))
    jobs = list(planner.jobs())
    return jobs, planner.counts()


def test_a_rerun_plans_only_what_changed_since_the_results_written(tmp_path: Path) -> None:
    config = _config(tmp_path)
    jobs, first = _plan(config)
    assert (first.planned, first.new, first.to_run) == (9, 9, 9)  # 3 rows x (2 seeds + 1 seed)

    summary = asyncio.run(run_shard(jobs, config, run_id="run-1", api_keys={}, limiters=LimiterRegistry()))

    assert summary.counts == {"succeeded": 9}
    assert len(summary.parts) >= 2  # checkpoint_rows=4: at least one part before exit, the rest on exit
    assert read_results(Storage(config.output.uri)).height == 9
    assert prior_work(Storage(config.output.uri)).done == {job.job_key for job in jobs}
    again, second = _plan(config)
    assert again == []
    assert (second.planned, second.already_done, second.to_run, second.removed) == (9, 9, 0, 0)

    # Row S1's prompt changes: its two as-written jobs change; its mono job (fixed prompt) does not.
    changed_config = _config(tmp_path, prompts=["brightness 1.2", "contrast 1.3", "brightness 1.2"])
    changed, third = _plan(changed_config)

    assert [(job.row_id, job.variant, job.seed) for job in changed] == [
        ("S1", "as_written", 1),
        ("S1", "as_written", 2),
    ]
    assert (third.to_run, third.changed, third.new, third.already_done, third.removed) == (2, 2, 0, 7, 0)


def test_an_unknown_outcome_is_held_unless_the_provider_allows_resubmits(tmp_path: Path) -> None:
    config = _config(tmp_path)
    jobs, _ = _plan(config)
    held = jobs[4]
    write_results_part(
        Storage(config.output.uri),
        [
            EditResult(
                job=held,
                status="unknown",
                run_id="run-0",
                attempts=1,
                error_type="SubmitOutcomeUnknown",
                billing_risk=True,
            )
        ],
        run_id="run-0",
    )
    assert prior_work(Storage(config.output.uri)).unknown == {held.job_key}

    planned, counts = _plan(config)

    assert held not in planned
    assert len(planned) == 8
    assert (counts.held_unknown, counts.to_run, counts.already_done) == (1, 8, 0)

    allowed = _config(tmp_path, local={"resubmit_unknown": True})
    planned, counts = _plan(allowed)

    assert held in planned
    assert len(planned) == 9
    assert (counts.held_unknown, counts.to_run) == (0, 9)


def test_a_failed_flush_keeps_its_rows_and_the_exit_flush_writes_them(tmp_path: Path) -> None:
    """A storage hiccup during a flush loses nothing and writes no ledger row twice."""
    from tasks.storage.results import read_results

    class FlakyStorage(Storage):
        failures = 1

        def write_bytes(self, relative: str, data: bytes, *, atomic: bool = True) -> str:
            if relative.startswith("results/") and self.failures:
                self.failures -= 1
                raise OSError("disk briefly unavailable")
            return super().write_bytes(relative, data, atomic=atomic)

    storage = FlakyStorage(str(tmp_path))

    async def scenario() -> None:
        async with Checkpointer(storage, run_id="r", every_seconds=3600, every_rows=1000) as checkpoint:
            await checkpoint.add(_result("a"), [_ledger_row("a")])
            with pytest.raises(StorageError, match="disk briefly unavailable"):
                await checkpoint.flush()
            await checkpoint.add(_result("b"), [_ledger_row("b")])

    asyncio.run(scenario())
    assert sorted(read_results(storage)["job_key"]) == ["a", "b"]
    assert sorted(read_ledger(storage)["job_key"]) == ["a", "b"]  # "a"'s ledger row written once


def test_journal_entries_of_jobs_already_done_are_pruned(storage: RecordingStorage) -> None:
    """A crash between writing a part and clearing its journal entries leaves them: the next run drops them."""
    from tasks.pipeline.checkpoint import prune_pending

    for key in ("done-job", "open-job"):
        storage.write_bytes(
            f"{PENDING_DIR}/{key}.json", json.dumps({"job_key": key, "provider": "p", "provider_job_id": "x"}).encode()
        )
    left = prune_pending(storage, read_pending(storage), {"done-job"})
    assert list(left) == ["open-job"]
    assert list(read_pending(storage)) == ["open-job"]
