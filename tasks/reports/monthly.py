"""The cross-run summary: per month and provider, runs, images, credits and money from the cost ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tasks.costs.ledger import read_ledger
from tasks.reports.cost_report import write_tables
from tasks.reports.markdown import fmt_count, fmt_credits, fmt_money, markdown_table
from tasks.storage.fs import Storage
from tasks.storage.layout import MONTHLY_REPORT_DIR

__all__ = ["MonthlySummary", "monthly_summary", "write_monthly_summary"]

_COLUMNS = {
    "month": "month", "provider": "provider", "runs": "runs", "images": "images", "billed_requests": "billed requests",
    "credits": "credits", "money": "money",
}  # fmt: skip


@dataclass(frozen=True)
class MonthlySummary:
    markdown: str
    rows: list[dict[str, Any]]
    uris: dict[str, str] = field(default_factory=dict)


def monthly_summary(ledger: pl.DataFrame) -> pl.DataFrame:
    """Per month (UTC, YYYY-MM) and provider: distinct runs, succeeded images, billed requests, credits, money.

    Credits and money are null for a month/provider with any row billed at an unknown price.
    """
    succeeded = pl.col("images").filter(pl.col("status") == "succeeded").sum()
    unknown = pl.col("credits").is_null().any()
    return (
        ledger.with_columns(pl.col("time").dt.strftime("%Y-%m").alias("month"))
        .group_by("month", "provider")
        .agg(
            pl.col("run_id").n_unique().alias("runs"),
            succeeded.cast(pl.Int64).alias("images"),
            pl.len().alias("billed_requests"),
            pl.when(unknown).then(None).otherwise(pl.col("credits").sum()).alias("credits"),
            pl.when(unknown).then(None).otherwise(pl.col("money").sum()).alias("money"),
            pl.col("currency").drop_nulls().first().alias("currency"),
        )
        .sort("month", "provider")
    )


def write_monthly_summary(storage: Storage, *, currency: str) -> MonthlySummary:
    """Summarise every run's ledger under the storage root into `reports/monthly/` (md, parquet, csv).

    Args:
        storage: the output root holding `costs/`.
        currency: the price table's currency, shown in the Markdown.
    """
    frame = monthly_summary(read_ledger(storage))
    shown = [
        {**row, "runs": fmt_count(row["runs"]), "images": fmt_count(row["images"]),
         "billed_requests": fmt_count(row["billed_requests"]), "credits": fmt_credits(row["credits"]),
         "money": fmt_money(row["money"], currency)}
        for row in frame.to_dicts()
    ]  # fmt: skip
    body = markdown_table(shown, _COLUMNS) if shown else "No billed requests yet."
    markdown = f"# Spend by month and provider ({currency})\n\n{body}\n"
    base = MONTHLY_REPORT_DIR
    uris = {"summary.md": storage.write_bytes(f"{base}/summary.md", markdown.encode())}
    uris.update(write_tables(storage, base, {"summary": frame}))
    return MonthlySummary(markdown, frame.to_dicts(), uris)
