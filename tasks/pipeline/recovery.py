"""Before a run plans anything: write what earlier runs paid for but could not record (spooled outputs,
outcomes kept in the journal), and record as `unknown` every job whose submit left with no answer recorded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from tasks.core.config import PipelineConfig
from tasks.core.models import EditResult
from tasks.costs import LEDGER_SCHEMA, PriceTable, ledger_rows, load_price_table, write_ledger_part
from tasks.pipeline.journal import JournalScan, job_from_intent, read_journal
from tasks.pipeline.spool import Spool, spool_dir
from tasks.storage.fs import Storage
from tasks.storage.layout import pending_path
from tasks.storage.results import RESULT_SCHEMA, PriorWork, read_results, result_rows, write_result_rows

__all__ = ["Recovery", "recover"]

_DATETIMES = {
    name
    for schema in (RESULT_SCHEMA, LEDGER_SCHEMA)
    for name, dtype in schema.items()
    if isinstance(dtype, pl.Datetime)
}


@dataclass
class Recovery:
    """What a run found of earlier runs' unrecorded work, and wrote."""

    adopted: int = 0  # jobs written from the spool or the journal, not bought again
    held: int = 0  # jobs whose submit may have been billed: recorded `unknown`, held from re-sending
    open_polls: set[str] = field(default_factory=set)  # accepted jobs this run polls

    def apply(self, prior: PriorWork) -> PriorWork:
        """Plan the open polls even where an earlier run recorded them `unknown` (they are polled, not bought)."""
        prior.unknown -= self.open_polls
        return prior


@dataclass
class _Batch:
    rows: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    journal_keys: set[str] = field(default_factory=set)
    spool_keys: set[str] = field(default_factory=set)


def recover(storage: Storage, config: PipelineConfig, results_schema: pa.Schema | None = None) -> Recovery:
    """Adopt spooled and journaled outcomes and hold interrupted submits, before the run plans its jobs.

    Args:
        storage: the output root.
        config: the pipeline config (the spool's folder, the price table).
        results_schema: the run's declared results schema, which the recovered parts are written in.

    Raises:
        StorageError: output.uri still cannot be written; nothing has been sent.
    """
    spool = Spool(spool_dir(config.output))
    entries = spool.entries()
    scan = read_journal(storage)
    recovery = Recovery(open_polls=set(scan.accepted))
    for key in scan.torn:
        storage.delete(pending_path(key))  # an intent cut short: its submit never left
    if not entries and not scan.outcomes and not scan.intents:
        return recovery
    durable = _durable(storage)
    batch = _Batch()
    recovery.adopted += _from_spool(storage, spool, entries, durable, batch)
    recovery.adopted += _from_outcomes(storage, scan, durable, batch)
    recovery.held += _from_intents(scan, durable, batch, load_price_table({**config.pricing, "allow_unknown": True}))
    _write(storage, batch, results_schema)
    for key in batch.journal_keys:
        storage.delete(pending_path(key))
    for key in batch.spool_keys:
        spool.remove(key)
    recovery.open_polls -= batch.journal_keys
    return recovery


def _durable(storage: Storage) -> set[tuple[str, str]]:
    """(job key, run id) of every result row already in the table."""
    frame = read_results(storage, columns=["job_key", "run_id"])
    return {(str(key), str(run)) for key, run in frame.iter_rows()}


def _from_spool(
    storage: Storage, spool: Spool, entries: Iterable[Any], durable: set[tuple[str, str]], batch: _Batch
) -> int:
    adopted = 0
    for entry in entries:
        batch.spool_keys.add(entry.job_key)
        batch.journal_keys.add(entry.job_key)
        if entry.rows and (entry.job_key, str(entry.rows[0].get("run_id"))) in durable:
            continue  # a run already wrote it (it stopped before removing the entry)
        for relative, path in entry.images:
            storage.write_bytes(relative, path.read_bytes())  # images before the rows that point at them
        batch.rows += entry.rows
        batch.ledger += entry.ledger
        adopted += 1
    return adopted


def _from_outcomes(storage: Storage, scan: JournalScan, durable: set[tuple[str, str]], batch: _Batch) -> int:
    adopted = 0
    for key, record in scan.outcomes.items():
        if key in batch.spool_keys:
            continue
        batch.journal_keys.add(key)
        if (key, str(record.get("run_id"))) in durable:
            continue
        rows = list(record.get("rows") or [])
        if not all(storage.fs.exists(row["output_uri"]) for row in rows if row.get("output_uri")):
            scan.intents[key] = record  # an image is missing: count it as a job that may have been billed
            continue
        batch.rows += rows
        batch.ledger += list(record.get("ledger") or [])
        adopted += 1
    return adopted


def _from_intents(scan: JournalScan, durable: set[tuple[str, str]], batch: _Batch, table: PriceTable) -> int:
    held = 0
    now = datetime.now(UTC)
    for key, record in scan.intents.items():
        if key in batch.spool_keys:
            continue
        batch.journal_keys.add(key)
        run_id = str(record.get("run_id") or "unknown")
        if (key, run_id) in durable:
            continue
        message = (
            f"run {run_id} stopped after sending this job and before recording its answer: it may have been "
            "billed, so it is held; set providers.<name>.resubmit_unknown: true to send it again"
        )
        job = job_from_intent(record)
        if job is None:
            batch.rows.append({"job_key": key, "status": "unknown", "error_message": message, "run_id": run_id})
            batch.ledger.append(
                {"job_key": key, "status": "unknown", "run_id": run_id, "time": now, "source": "unknown",
                 "ledger_id": _held_id(key, run_id)}
            )  # fmt: skip
            held += 1
            continue
        result = EditResult(
            job=job, status="unknown", run_id=run_id, attempts=1, finished_at=now.timestamp(), billing_risk=True,
            billed=True, error_type="SubmitOutcomeUnknown", error_message=message,
        )  # fmt: skip
        batch.rows += result_rows(result)
        batch.ledger += [
            {**row, "ledger_id": _held_id(key, run_id)} for row in ledger_rows(result, table.quote_job(job, now.date()))
        ]
        held += 1
    return held


def _held_id(job_key: str, run_id: str) -> str:
    """The ledger id of a held job's row: the same on every recovery, so one cut short is counted once."""
    return f"held|{run_id}|{job_key}"


def _write(storage: Storage, batch: _Batch, results_schema: pa.Schema | None) -> None:
    """Ledger rows first, then result rows (as the checkpoint does), one pair of parts per original run."""
    for run_id, run_rows in _by_run(batch.ledger).items():
        write_ledger_part(storage, run_rows, run_id=run_id)
    for run_id, run_rows in _by_run(batch.rows).items():
        write_result_rows(storage, run_rows, run_id=run_id, schema=results_schema)


def _by_run(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_run[str(row.get("run_id") or "recovered")].append(_decoded(row))
    return by_run


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """Datetimes kept as ISO text in JSON back to datetimes."""
    return {
        key: datetime.fromisoformat(value) if key in _DATETIMES and isinstance(value, str) else value
        for key, value in row.items()
    }
