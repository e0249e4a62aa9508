"""A run's cost report: actual against forecast, cost per image, failures, and a spend chart."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tasks.costs.balance import BalanceChange
from tasks.costs.forecast import Forecast, read_forecast
from tasks.costs.ledger import read_ledger
from tasks.reports.balance_view import balances_markdown
from tasks.reports.chart import spend_chart_png
from tasks.reports.compare import actual_vs_forecast, cost_per_image, failures
from tasks.reports.markdown import fmt_count, fmt_credits, fmt_money, fmt_percent, markdown_table
from tasks.reports.quality_view import quality_markdown, quality_tables
from tasks.storage.fs import Storage
from tasks.storage.layout import report_dir
from tasks.storage.results import read_results

__all__ = ["CostReport", "build_cost_report", "load_forecast", "write_cost_report", "write_tables"]


@dataclass(frozen=True)
class CostReport:
    """A rendered report: its Markdown, its tables as plain rows, the chart, and where they were written."""

    run_id: str
    markdown: str
    tables: dict[str, list[dict[str, Any]]]
    png: bytes = field(repr=False)
    uris: dict[str, str] = field(default_factory=dict)


def build_cost_report(
    results: pl.DataFrame,
    ledger: pl.DataFrame,
    forecast: Forecast | pl.DataFrame | None,
    *,
    run_id: str,
    currency: str,
    balances: Sequence[BalanceChange] = (),
) -> CostReport:
    """Compute a run's report from its results rows, its ledger rows and its forecast (nothing is written).

    Args:
        results: the run's rows of the results table.
        ledger: the run's rows of the cost ledger.
        forecast: the run's forecast (object, or its `to_frame()`), or None if none was made.
        run_id: the run.
        currency: the price table's currency.
        balances: the provider accounts' credits before and after the run (its manifest holds them).
    """
    report, _ = _build(results, ledger, forecast, run_id=run_id, currency=currency, balances=balances)
    return report


def write_cost_report(
    storage: Storage,
    *,
    run_id: str,
    currency: str,
    forecast: Forecast | pl.DataFrame | None = None,
    balances: Sequence[BalanceChange] = (),
) -> CostReport:
    """Build a run's report from storage and write it under `reports/<run_id>/`.

    Writes report.md, spend.png, and each table as .parquet and .csv. The forecast, if not given, is read
    from `reports/<run_id>/forecast.parquet` (the run's manifest holds it too: its readers pass it in). The
    balances, when given, add a section comparing the accounts' credits before − after with the ledger.

    Returns:
        The report, with `uris` naming every object written.
    """
    results = read_results(storage).filter(pl.col("run_id") == run_id)
    ledger = read_ledger(storage, run_id=run_id)
    planned = forecast if forecast is not None else load_forecast(storage, run_id=run_id)
    report, frames = _build(results, ledger, planned, run_id=run_id, currency=currency, balances=balances)
    base = report_dir(run_id)
    uris = {
        "report.md": storage.write_bytes(f"{base}/report.md", report.markdown.encode()),
        "spend.png": storage.write_bytes(f"{base}/spend.png", report.png),
    }
    uris.update(write_tables(storage, base, frames))
    return CostReport(report.run_id, report.markdown, report.tables, report.png, uris)


def write_tables(storage: Storage, base: str, frames: Mapping[str, pl.DataFrame]) -> dict[str, str]:
    """Write each frame as `<base>/<name>.parquet` and `.csv`; returns file name -> URL."""
    uris: dict[str, str] = {}
    for name, frame in frames.items():
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        uris[f"{name}.parquet"] = storage.write_bytes(f"{base}/{name}.parquet", buffer.getvalue())
        uris[f"{name}.csv"] = storage.write_bytes(f"{base}/{name}.csv", frame.write_csv().encode())
    return uris


def load_forecast(storage: Storage, *, run_id: str) -> pl.DataFrame | None:
    """A run's saved forecast (`reports/<run_id>/forecast.parquet`), or None if none was saved."""
    return read_forecast(storage, run_id=run_id)


def _build(
    results: pl.DataFrame,
    ledger: pl.DataFrame,
    forecast: Forecast | pl.DataFrame | None,
    *,
    run_id: str,
    currency: str,
    balances: Sequence[BalanceChange] = (),
) -> tuple[CostReport, dict[str, pl.DataFrame]]:
    planned = forecast.to_frame() if isinstance(forecast, Forecast) else forecast
    frames = {
        "actual_vs_forecast": actual_vs_forecast(ledger, planned),
        "cost_per_image": cost_per_image(ledger),
        "failures": failures(results, ledger),
        **quality_tables(results),
    }
    markdown = _markdown(run_id, currency, results, ledger, planned, frames, balances)
    png = spend_chart_png(ledger, currency=currency, title=f"Cumulative spend by provider — run {run_id}")
    return CostReport(run_id, markdown, {name: frame.to_dicts() for name, frame in frames.items()}, png), frames


def _markdown(
    run_id: str,
    currency: str,
    results: pl.DataFrame,
    ledger: pl.DataFrame,
    planned: pl.DataFrame | None,
    frames: Mapping[str, pl.DataFrame],
    balances: Sequence[BalanceChange],
) -> str:
    parts = [f"# Cost report — run {run_id}", _headline(currency, results, ledger, planned)]
    parts += ["## Actual vs forecast", _table(frames["actual_vs_forecast"], _VERSUS, currency)]
    parts += ["## Cost per succeeded image", _table(frames["cost_per_image"], _PER_IMAGE, currency)]
    parts.append("Everything spent on a provider/model, failures included, divided by the images that succeeded.")
    failed = frames["failures"]
    parts += ["## Failures", _table(failed, _FAILURES, currency) if not failed.is_empty() else "No job failed."]
    quality = quality_markdown(results, frames, currency)
    if quality:
        parts.append(quality)
    if balances:
        parts.append(balances_markdown(balances))
    parts += ["## Spend over time", "![cumulative spend by provider](spend.png)"]
    return "\n\n".join(parts) + "\n"


def _headline(currency: str, results: pl.DataFrame, ledger: pl.DataFrame, planned: pl.DataFrame | None) -> str:
    jobs = results.group_by("status").agg(pl.col("job_key").n_unique().alias("jobs"))
    count = {row["status"]: row["jobs"] for row in jobs.to_dicts()}
    unknown = int(ledger.get_column("credits").is_null().sum())
    credits = float(ledger.get_column("credits").sum() or 0.0)
    money = float(ledger.get_column("money").sum() or 0.0)
    images = int(ledger.filter(pl.col("status") == "succeeded").get_column("images").sum() or 0)
    lines = [
        (
            f"Spent **{fmt_credits(credits, unknown)} credits ({fmt_money(money, currency, unknown)})** on "
            f"{fmt_count(ledger.height)} billed requests."
        ),
        _jobs_line(count, images),
    ]
    if planned is not None and not planned.is_empty():
        planned_credits = float(planned.get_column("known_credits").sum() or 0.0)
        planned_unknown = int(planned.get_column("unknown_jobs").sum() or 0)
        delta = (credits - planned_credits) / planned_credits * 100 if planned_credits else None
        lines.append(
            f"Forecast: {fmt_credits(planned_credits, planned_unknown)} credits "
            f"({fmt_money(float(planned.get_column('known_money').sum() or 0.0), currency, planned_unknown)}); "
            f"actual is {fmt_percent(delta)} against it."
        )
    elif planned is not None:
        # A re-run that found every job done saves an empty forecast: that is a forecast of nothing.
        lines.append("Forecast: no job to run, nothing to spend.")
    else:
        lines.append("No forecast was saved for this run.")
    return "\n".join(f"- {line}" for line in lines)


def _jobs_line(count: Mapping[str, int], images: int) -> str:
    parts = [f"{fmt_count(count.get('succeeded', 0))} succeeded ({fmt_count(images)} images)"]
    parts.append(f"{fmt_count(count.get('failed', 0))} failed")
    if count.get("unknown"):
        parts.append(f"{fmt_count(count['unknown'])} with an unknown submit outcome (counted as billed)")
    parts.append(f"{fmt_count(count.get('skipped', 0))} skipped")
    return "Jobs: " + ", ".join(parts) + "."


_VERSUS = {
    "provider": "provider", "model": "model", "forecast_images": "images (forecast)", "actual_images": "images",
    "forecast_credits": "credits (forecast)", "actual_credits": "credits", "delta_credits_pct": "Δ credits",
    "forecast_money": "money (forecast)", "actual_money": "money", "delta_money_pct": "Δ money",
    "unknown_jobs": "unknown-priced",
}  # fmt: skip
_PER_IMAGE = {
    "provider": "provider", "model": "model", "succeeded_images": "succeeded images", "credits": "credits",
    "money": "money", "credits_per_image": "credits / image", "money_per_image": "money / image",
}  # fmt: skip
_FAILURES = {
    "provider": "provider", "error_type": "error", "failed_jobs": "failed jobs", "billed_jobs": "billed",
    "credits": "credits", "money": "money",
}  # fmt: skip


def _table(frame: pl.DataFrame, columns: Mapping[str, str], currency: str) -> str:
    return markdown_table([_formatted(row, currency) for row in frame.to_dicts()], columns)


def _formatted(row: Mapping[str, Any], currency: str) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_pct"):
            shown[key] = fmt_percent(value)
        elif "money" in key and key != "money_per_image":
            shown[key] = fmt_money(value, currency) if value is not None else "—"
        elif key == "money_per_image":
            shown[key] = f"{value:,.4f} {currency}" if value is not None else "—"
        elif isinstance(value, float):
            shown[key] = fmt_credits(value)
        elif isinstance(value, int):
            shown[key] = fmt_count(value)
        else:
            shown[key] = value
    return shown
