"""The journal under `pending/`: an intent before every submit, the provider's id once accepted, the outcome
until it is durable in the tables. A re-run reads it so that no job is ever bought twice.

One entry per job, `pending/<job_key>.json`, holding one of three states:

    intent    written before the submit leaves; found alone after a crash, the job may have been billed
    accepted  the provider's job id: a re-run polls it instead of paying again
    outcome   the job's result and ledger rows, for a job with no provider id (sync) whose rows were
              not yet in a Parquet part: a re-run writes them instead of buying the job again

The entry is removed once the job's rows and ledger rows are durable; a job whose polling was abandoned
keeps its `accepted` entry (with the credits already ledgered) so that a later run can finish it.

On a local disk the later states are appended to the entry, each on a line of its own (a newline before
and after it), rather than written to a temporary file and renamed over it (a tenth of the cost). The
entry's state is its last whole line: an append cut short by a crash leaves the state before it, exactly
as a rename that never happened does; a line cut short never parses, since JSON objects end with `}`.
Object stores get the whole record in one PUT, as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from tasks.core.errors import StorageError
from tasks.core.models import Accepted, EditJob, ImageRef
from tasks.http import Clock, RetryPolicy, SystemClock
from tasks.pipeline.writes import StorageGuard, retry_write
from tasks.storage.fs import Storage
from tasks.storage.layout import PENDING_DIR, pending_path

__all__ = ["ACCEPTED", "INTENT", "OUTCOME", "Journal", "JournalScan", "job_from_intent", "read_journal"]

INTENT, ACCEPTED, OUTCOME = "intent", "accepted", "outcome"
_ACCEPTED_FIELDS = {item.name for item in fields(Accepted)}


@dataclass
class JournalScan:
    """Every entry under `pending/`, by state and job key.

    `torn` entries cannot be read: only an intent is written in place, and a submit leaves only once its
    intent is whole, so a torn entry's job was never sent.
    """

    accepted: dict[str, Accepted] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    torn: set[str] = field(default_factory=set)


def read_journal(storage: Storage) -> JournalScan:
    """Read every journal entry (there are only as many as jobs were in flight when a run stopped)."""
    scan = JournalScan()
    for path in storage.list(PENDING_DIR, ".json"):
        key = path.rsplit("/", 1)[-1].removesuffix(".json")
        try:
            record = _last_record(storage.read_bytes(path))
        except FileNotFoundError:
            continue
        except StorageError:
            record = None
        if not isinstance(record, dict):
            scan.torn.add(key)
            continue
        state = record.get("state") or (ACCEPTED if "provider_job_id" in record else INTENT)
        if state == ACCEPTED:
            scan.accepted[key] = Accepted(**{k: v for k, v in record.items() if k in _ACCEPTED_FIELDS})
        elif state == OUTCOME:
            scan.outcomes[key] = record
        else:
            scan.intents[key] = record
    return scan


def job_from_intent(record: dict[str, Any]) -> EditJob | None:
    """The job an intent was written for (its image bytes aside), or None for an unreadable entry."""
    job = record.get("job")
    if not isinstance(job, dict):
        return None
    try:
        return EditJob(
            **{k: v for k, v in job.items() if k not in ("image", "mask", "image_context", "extras_items")},
            job_key=record["job_key"],
            extras_items=tuple((str(name), value) for name, value in job.get("extras_items") or ()),
            image=ImageRef(**job["image"]),
            mask=ImageRef(**job["mask"]) if job.get("mask") else None,
            image_context=ImageRef(**job["image_context"]) if job.get("image_context") else None,
        )
    except (KeyError, TypeError):
        return None


class Journal:
    """One shard's journal writes: intents, accepted ids and outcomes, and their removal once durable.

    Intents are written in place on local disks (a torn intent still reads as an intent) and on the event
    loop: a small local write costs less than the thread hop around it. Object stores get one PUT in a
    worker thread.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        run_id: str,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        guard: StorageGuard | None = None,
    ) -> None:
        self.storage = storage
        self.run_id = run_id
        self.policy = policy or RetryPolicy(attempts=1)
        self.clock = clock or SystemClock()
        self.guard = guard
        self._states: dict[str, dict[str, Any]] = {}  # job key -> the record this run last wrote or resumed
        self._keep: dict[str, dict[str, Any]] = {}  # job key -> the record to leave once its rows are durable

    def state(self, job_key: str) -> str | None:
        """The state of this run's entry for a job (None: it has none)."""
        record = self._states.get(job_key)
        return None if record is None else str(record["state"])

    async def intent(self, job: EditJob) -> None:
        """Journal that `job` is about to be sent.

        Raises:
            StorageError: it could not be written; the job must not be sent.
        """
        record = {"job_key": job.job_key, "state": INTENT, "run_id": self.run_id, "job": _job_fields(job)}
        await self._write(job.job_key, record, atomic=False)

    async def accepted(self, job: EditJob, accepted: Accepted) -> None:
        """Journal an accepted async job's id before its first poll.

        A failure does not stop the job (it is paid for): the guard is tripped and its outcome spooled.
        """
        record = {"job_key": job.job_key, "state": ACCEPTED, "run_id": self.run_id, **asdict(accepted)}
        try:
            await self._write(job.job_key, record)
        except StorageError:
            self._states[job.job_key] = record  # what the run knows, even though the disk does not
            return

    def track(self, job_key: str, accepted: Accepted | None = None) -> None:
        """A job resumed from an earlier run's entry: removed (or kept) with the others once durable."""
        known = asdict(accepted) if accepted is not None else {}
        self._states[job_key] = {"job_key": job_key, "state": ACCEPTED, "run_id": self.run_id, **known}

    async def outcome(self, job_key: str, rows: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> None:
        """Keep a job's rows in its entry until they are in a Parquet part (jobs with no provider id).

        Raises:
            StorageError: it could not be written (the rows stay buffered in memory).
        """
        if self.state(job_key) != INTENT:
            return  # accepted jobs are recovered by polling their id; jobs never sent have no entry
        record = {"job_key": job_key, "state": OUTCOME, "run_id": self.run_id, "rows": rows, "ledger": ledger}
        await self._write(job_key, record)

    def keep_open(self, job_key: str, ledgered_credits: float | None) -> None:
        """Leave an abandoned job's entry once its rows are durable, marking the credits already ledgered."""
        record = self._states.get(job_key)
        if record is not None and record["state"] == ACCEPTED:
            self._keep[job_key] = {**record, "ledgered_credits": ledgered_credits or 0.0}

    def settle_sync(self, job_keys: list[str]) -> None:
        """After the jobs' rows are durable: remove their entries, or rewrite the ones kept open.

        Synchronous (one worker-thread hop for a whole checkpoint). A failure is left for the next run's
        recovery, which removes entries of jobs already durable.
        """
        for key in job_keys:
            if self._states.pop(key, None) is None:
                continue
            kept = self._keep.pop(key, None)
            try:
                if kept is None:
                    self.storage.delete(pending_path(key))
                else:
                    self.storage.write_bytes(pending_path(key), _dumps(kept))
            except StorageError:
                continue

    async def _write(self, job_key: str, record: dict[str, Any], *, atomic: bool = True) -> None:
        payload, path = _dumps(record), pending_path(job_key)
        append = self.storage.is_local and job_key in self._states  # its intent is on disk: add the new state

        def write() -> None:
            if append:
                self.storage.append_local(path, b"\n" + payload + b"\n")
            else:
                self.storage.write_bytes(path, payload, atomic=atomic)

        await retry_write(
            write,
            self.policy,
            clock=self.clock,
            guard=self.guard,
            in_thread=not self.storage.is_local,
        )
        self._states[job_key] = record


def _job_fields(job: EditJob) -> dict[str, Any]:
    """What a recovery needs to write the job's row and price it; never the image bytes."""
    data = {
        name: getattr(job, name)
        for name in ("row_id", "variant", "provider", "model", "prompt", "params_json", "seed", "count")
    }
    # The catalog's pass-through values, as JSON keeps them (a date as its ISO text; the results schema casts it back).
    data["extras_items"] = [[name, value] for name, value in job.extras_items]
    for name in ("image", "mask", "image_context"):
        ref: ImageRef | None = getattr(job, name)
        data[name] = None if ref is None else {"kind": ref.kind, "value": ref.value, "version": ref.version}
    return data


def _last_record(data: bytes) -> Any:
    """An entry's state: its last line that is a whole JSON object (None: no line is, a torn intent)."""
    record = None
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue  # a line cut short
        if isinstance(parsed, dict):
            record = parsed
    return record


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, default=_plain, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
