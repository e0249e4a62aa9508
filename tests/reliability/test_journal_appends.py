"""On a local disk a job's later journal states are appended to its entry: a crash at any byte of an append
leaves the state before it (never a torn entry, which would read as never sent and be bought again)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tasks.core.models import Accepted, EditJob, ImageRef
from tasks.pipeline.journal import ACCEPTED, INTENT, OUTCOME, Journal, JournalScan, read_journal
from tasks.storage.fs import Storage
from tasks.storage.layout import pending_path

ROWS = [{"job_key": "k", "status": "succeeded", "credits": 1.0}]
LEDGER = [{"job_key": "k", "credits": 1.0}]
ACCEPT = Accepted(provider="fashn.edit", provider_job_id="job-1", request_id="r-1")


def _job() -> EditJob:
    return EditJob(
        job_key="k",
        row_id="row-1",
        variant="v",
        provider="picsart.edit",
        model=None,
        prompt="sepia",
        params_json="{}",
        seed=None,
        count=1,
        image=ImageRef(kind="path", value="/catalog/a.png"),
    )


def _state(scan: JournalScan) -> str:
    if "k" in scan.torn:
        return "torn"
    entries = ((INTENT, scan.intents), (ACCEPTED, scan.accepted), (OUTCOME, scan.outcomes))
    states = [name for name, found in entries if "k" in found]
    return states[0] if len(states) == 1 else str(states)


def _journal_then(tmp_path: Path, later: Callable[[Journal], Awaitable[None]]) -> tuple[Storage, bytes, bytes]:
    """The entry's bytes after the intent, and after `later` appended to it."""
    storage = Storage(str(tmp_path))
    journal = Journal(storage, run_id="run-1")
    entry = tmp_path / pending_path("k")

    async def scenario() -> tuple[bytes, bytes]:
        await journal.intent(_job())
        first = entry.read_bytes()
        await later(journal)
        return first, entry.read_bytes()

    first, whole = asyncio.run(scenario())
    return storage, first, whole


@pytest.mark.parametrize(
    ("later", "final"),
    [
        (lambda journal: journal.outcome("k", ROWS, LEDGER), OUTCOME),
        (lambda journal: journal.accepted(_job(), ACCEPT), ACCEPTED),
    ],
    ids=["outcome", "accepted"],
)
def test_a_crash_at_any_byte_of_an_append_leaves_the_state_before_it(
    tmp_path: Path, later: Callable[[Journal], Awaitable[None]], final: str
) -> None:
    storage, first, whole = _journal_then(tmp_path, later)
    assert whole.startswith(first) and len(whole) > len(first)  # appended, not rewritten
    entry = tmp_path / pending_path("k")

    seen = []
    for cut in range(len(first), len(whole) + 1):  # the file as a kill at each byte of the append leaves it
        entry.write_bytes(whole[:cut])
        seen.append(_state(read_journal(storage)))

    # The state before the append until the new line is whole, then the new state; never torn.
    last_partial = whole.rstrip(b"\n")
    assert seen == [INTENT] * (len(last_partial) - len(first)) + [final] * (len(whole) - len(last_partial) + 1)


def test_an_outcome_retried_after_a_partial_append_reads_whole(tmp_path: Path) -> None:
    """A failed append (a full disk) leaves a partial line; the retried record still reads as the state."""
    partial = b'\n{"job_key":"k","state":"outcome","run_id":"run-1","ro'

    async def fail_then_retry(journal: Journal) -> None:
        with (tmp_path / pending_path("k")).open("ab") as entry:
            entry.write(partial)  # what the first attempt left before the disk said no
        await journal.outcome("k", ROWS, LEDGER)  # the retry

    storage, first, whole = _journal_then(tmp_path, fail_then_retry)
    assert whole.startswith(first + partial)
    scan = read_journal(storage)
    assert scan.outcomes["k"]["rows"] == ROWS and scan.outcomes["k"]["ledger"] == LEDGER
    assert not scan.intents and not scan.torn


def test_an_intent_cut_short_is_still_torn(tmp_path: Path) -> None:
    storage, first, _ = _journal_then(tmp_path, lambda journal: journal.outcome("k", ROWS, LEDGER))
    entry = tmp_path / pending_path("k")
    for cut in (1, len(first) // 2, len(first) - 1):
        entry.write_bytes(first[:cut])
        assert read_journal(storage).torn == {"k"}  # its submit never left: the next run sends it


def test_object_stores_keep_one_record_per_entry() -> None:
    storage = Storage(f"memory://retouch-test-{uuid.uuid4().hex}")

    async def scenario() -> None:
        journal = Journal(storage, run_id="run-1")
        await journal.intent(_job())
        await journal.outcome("k", ROWS, LEDGER)

    asyncio.run(scenario())
    assert b"\n" not in storage.read_bytes(pending_path("k"))  # replaced whole by one PUT, as before
    assert read_journal(storage).outcomes["k"]["rows"] == ROWS
    storage.fs.rm(storage.root, recursive=True)  # memory:// is one store per process
