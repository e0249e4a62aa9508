"""The cost ledger: one row per billed request, as Parquet parts under `costs/`, read back as one table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from tasks.core.models import EditResult
from tasks.costs.billing import job_billed
from tasks.costs.prices import Quote
from tasks.storage.columns import arrow_schema
from tasks.storage.fs import Storage
from tasks.storage.layout import LEDGER_DIR
from tasks.storage.parts import PartTable, read_parts, write_part

__all__ = [
    "LEDGER_ARROW_SCHEMA",
    "LEDGER_SCHEMA",
    "LEDGER_TABLE",
    "billed_credits",
    "ledger_frame",
    "ledger_rows",
    "read_ledger",
    "write_ledger_part",
]


LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "time": pl.Datetime("us", "UTC"),
    "provider": pl.String(),
    "model": pl.String(),
    "variant": pl.String(),
    "job_key": pl.String(),
    "row_id": pl.String(),
    "provider_job_id": pl.String(),
    "request_id": pl.String(),
    "correlation_id": pl.String(),
    "status": pl.String(),
    "error_type": pl.String(),
    "images": pl.Int32(),
    "credits": pl.Float64(),
    "money": pl.Float64(),
    "currency": pl.String(),
    "source": pl.String(),  # provider | price_table | unknown
    "entry_id": pl.String(),
    "billing_risk": pl.Boolean(),
    # Unique per billed request: readers count a row once however many parts hold it (see storage/compact.py).
    "ledger_id": pl.String(),
}
LEDGER_ARROW_SCHEMA = arrow_schema(LEDGER_SCHEMA)


def _backfill_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows from before `ledger_id` get their content as id: the same on every read, equal only for copies."""
    content = [pl.col(name).cast(pl.String) for name in LEDGER_SCHEMA if name != "ledger_id" and name in frame.columns]
    legacy = pl.concat_str([pl.lit("legacy"), *(part.fill_null("") for part in content)], separator="|")
    if "ledger_id" not in frame.columns:
        return frame.with_columns(legacy.alias("ledger_id"))
    return frame.with_columns(pl.col("ledger_id").fill_null(legacy))


LEDGER_TABLE = PartTable(
    folder=LEDGER_DIR, fixed=LEDGER_ARROW_SCHEMA, key=("ledger_id",), order="time", backfill=_backfill_ids
)


def ledger_rows(result: EditResult, quote: Quote) -> list[dict[str, Any]]:
    """The ledger rows of one finished job: one per billed request, none when nothing was billed.

    Whether a job was billed is `billing.job_billed`: the provider's figure, else what the run saw (a
    failure after the provider finished is billed, an error answer is not, a refunded failure is not),
    else its status. A submit with no answer (status `unknown`) counts as billed, with billing_risk.
    Credits are the provider's figure when it reported one (source `provider`), else the quote's
    (source `price_table`, or `unknown` when the table has no price).

    Args:
        result: how the job ended.
        quote: the job's quote (from its budget reservation, or `PriceTable.quote_job`).
    """
    if not job_billed(result, quote):
        return []
    credits = billed_credits(result, quote)
    job = result.job
    source = "provider" if result.credits is not None else ("price_table" if quote.known else "unknown")
    return [
        {
            "run_id": result.run_id,
            "time": _time(result.finished_at),
            "provider": job.provider,
            "model": quote.model,
            "variant": job.variant,
            "job_key": job.job_key,
            "row_id": job.row_id,
            "provider_job_id": result.provider_job_id,
            "request_id": result.request_id,
            "correlation_id": result.correlation_id,
            "status": result.status,
            "error_type": result.error_type,
            "images": len(result.outputs),
            "credits": credits,
            "money": quote.money_for(credits),
            "currency": quote.currency,
            "source": source,
            "entry_id": quote.entry_id,
            "billing_risk": result.billing_risk,
            "ledger_id": uuid.uuid4().hex,
        }
    ]


def billed_credits(result: EditResult, quote: Quote) -> float | None:
    """Credits one finished job cost: the provider's figure, else the quote's when it was billed, else 0.

    None means billed at an unknown price. Pass the value to `BudgetTracker.settle`.
    """
    if not job_billed(result, quote):
        return 0.0
    return result.credits if result.credits is not None else quote.credits


def ledger_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Ledger rows as a DataFrame in the ledger's schema."""
    return pl.DataFrame([{name: row.get(name) for name in LEDGER_SCHEMA} for row in rows], schema=LEDGER_SCHEMA)


def write_ledger_part(storage: Storage, rows: Iterable[dict[str, Any]], *, run_id: str) -> str | None:
    """Write one atomic Parquet part of ledger rows; returns its URL (None when there were none)."""
    # A row without an id (built by hand) gets one here: ids are what readers count a bill once by.
    records = [
        {**{name: row.get(name) for name in LEDGER_SCHEMA}, "ledger_id": row.get("ledger_id") or uuid.uuid4().hex}
        for row in rows
    ]
    table = pa.Table.from_pylist(records, schema=LEDGER_ARROW_SCHEMA)
    return write_part(storage, LEDGER_DIR, table, run_id=run_id)


def read_ledger(storage: Storage, *, run_id: str | None = None) -> pl.DataFrame:
    """Every ledger row under the storage root once (only `run_id`'s rows if given), in the ledger's schema."""
    frame = read_parts(storage, LEDGER_TABLE)
    frame = frame.with_columns(
        pl.lit(None, dtype).alias(name) for name, dtype in LEDGER_SCHEMA.items() if name not in frame.columns
    )
    frame = frame.select(list(LEDGER_SCHEMA)).cast(LEDGER_SCHEMA)  # type: ignore[arg-type]
    return frame.filter(pl.col("run_id") == run_id) if run_id is not None else frame


def _time(epoch: float | None) -> datetime:
    if epoch is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(epoch, tz=UTC)
