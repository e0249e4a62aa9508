"""The cost ledger: one row per billed request, as Parquet parts under `costs/`, read back as one table."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tasks.core.models import EditResult
from tasks.costs.billing import job_billed
from tasks.costs.prices import Quote
from tasks.storage.fs import Storage
from tasks.storage.layout import LEDGER_DIR, ledger_part_path

__all__ = [
    "LEDGER_SCHEMA",
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
}


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
    return pl.DataFrame([{name: row.get(name) for name in LEDGER_SCHEMA} for row in rows], schema=LEDGER_SCHEMA)


def write_ledger_part(storage: Storage, rows: Iterable[dict[str, Any]], *, run_id: str) -> str | None:
    """Write one atomic Parquet part of ledger rows; returns its URL (None when there were none)."""
    materialised = list(rows)
    if not materialised:
        return None
    buffer = io.BytesIO()
    ledger_frame(materialised).write_parquet(buffer, compression="zstd")
    return storage.write_bytes(ledger_part_path(run_id), buffer.getvalue())


def read_ledger(storage: Storage, *, run_id: str | None = None) -> pl.DataFrame:
    """Every ledger part under the storage root as one frame (only `run_id`'s rows if given)."""
    parts = storage.list(LEDGER_DIR, ".parquet")
    if run_id is not None:
        parts = [part for part in parts if part.rsplit("/", 1)[-1].startswith(f"part-{run_id}-")]
    if not parts:
        return pl.DataFrame(schema=LEDGER_SCHEMA)
    frames = [pl.read_parquet(io.BytesIO(storage.read_bytes(part))) for part in parts]
    frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.filter(pl.col("run_id") == run_id) if run_id is not None else frame


def _time(epoch: float | None) -> datetime:
    if epoch is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(epoch, tz=UTC)
