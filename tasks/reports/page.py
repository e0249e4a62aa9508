"""A run's report page: one self-contained HTML file (counts, spend against forecast, failures, gallery)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import polars as pl

from tasks.reports.cost_report import CostReport
from tasks.reports.gallery import GalleryRow
from tasks.reports.markdown import fmt_count, fmt_credits, fmt_money, fmt_percent

__all__ = ["EXAMPLES_PER_CAUSE", "STATUSES", "FailureGroup", "PageData", "page_data", "render_page"]

STATUSES = ("succeeded", "failed", "unknown", "skipped")
EXAMPLES_PER_CAUSE = 3
_MESSAGE_CHARS = 300

# Autoescape on for every template: prompts, row ids and error messages are user data. The page also
# forbids scripts by its Content-Security-Policy, so a value that slipped through could still not run.
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("tasks.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(count=fmt_count, credits=fmt_credits, percent=fmt_percent)


@dataclass(frozen=True)
class FailureGroup:
    """Failed jobs of one provider and cause, what they cost, and a few of them as examples."""

    provider: str
    error_type: str
    jobs: int
    billed: int
    money: str
    examples: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class PageData:
    """Everything the page shows, computed (the template only lays it out)."""

    run_id: str
    currency: str
    counts: Mapping[str, int]
    images: int
    spend: str
    forecast: str
    versus: Sequence[Mapping[str, Any]]
    chart_uri: str
    failures: Sequence[FailureGroup]
    gallery: Sequence[GalleryRow]
    gallery_of: int


def page_data(results: pl.DataFrame, report: CostReport, gallery: Sequence[GalleryRow], *, currency: str) -> PageData:
    """The page's numbers from the run's results rows, its cost report and its gallery.

    Args:
        results: the run's rows of the results table.
        report: the run's cost report (its tables and chart).
        gallery: the sampled rows, thumbnails made.
        currency: the price table's currency.
    """
    jobs = results.group_by("status").agg(pl.col("job_key").n_unique().alias("jobs"))
    counts = {status: 0 for status in STATUSES} | {str(row["status"]): int(row["jobs"]) for row in jobs.to_dicts()}
    succeeded = results.filter((pl.col("status") == "succeeded") & pl.col("output_uri").is_not_null())
    versus = report.tables.get("actual_vs_forecast", [])
    return PageData(
        run_id=report.run_id,
        currency=currency,
        counts=counts,
        images=succeeded.height,
        spend=_total(versus, "actual", currency),
        forecast=_total(versus, "forecast", currency),
        versus=[_versus_row(row, currency) for row in versus],
        chart_uri="data:image/png;base64," + base64.b64encode(report.png).decode("ascii"),
        failures=_failures(results, report.tables.get("failures", []), currency),
        gallery=gallery,
        gallery_of=results.get_column("row_id").n_unique(),
    )


def render_page(data: PageData) -> str:
    """The page's HTML (every value escaped)."""
    return _ENV.get_template("report_page.html.j2").render(page=data, statuses=STATUSES)


def _total(rows: Sequence[Mapping[str, Any]], side: str, currency: str) -> str:
    credits = sum(float(row.get(f"{side}_credits") or 0.0) for row in rows)
    money = sum(float(row.get(f"{side}_money") or 0.0) for row in rows)
    return f"{fmt_credits(credits)} credits ({fmt_money(money, currency)})"


def _versus_row(row: Mapping[str, Any], currency: str) -> dict[str, str]:
    def money(key: str) -> str:
        return "—" if row.get(key) is None else fmt_money(row[key], currency)

    return {
        "provider": str(row["provider"]),
        "model": str(row.get("model") or ""),
        "images": f"{fmt_count(row.get('actual_images') or 0)} / {fmt_count(row.get('forecast_images') or 0)}",
        "credits": f"{fmt_credits(row.get('actual_credits') or 0.0)} / {fmt_credits(row.get('forecast_credits'))}",
        "money": f"{money('actual_money')} / {money('forecast_money')}",
        "delta": fmt_percent(row.get("delta_money_pct") or row.get("delta_credits_pct")),
    }


def _failures(results: pl.DataFrame, table: Sequence[Mapping[str, Any]], currency: str) -> list[FailureGroup]:
    failed = results.filter(pl.col("status") == "failed").unique("job_key", keep="first", maintain_order=True)
    groups = []
    for row in table:
        if not row.get("failed_jobs"):
            continue  # billed failures of jobs that later succeeded: in the spend, not failures
        same = failed.filter(
            (pl.col("provider") == row["provider"]) & pl.col("error_type").eq_missing(row["error_type"])
        ).sort("row_id")
        examples = tuple(
            {"row_id": str(e["row_id"]), "variant": str(e["variant"]), "message": _clip(e["error_message"])}
            for e in same.head(EXAMPLES_PER_CAUSE).to_dicts()
        )
        groups.append(
            FailureGroup(
                provider=str(row["provider"]),
                error_type=str(row["error_type"] or "unknown error"),
                jobs=int(row["failed_jobs"]),
                billed=int(row.get("billed_jobs") or 0),
                money=fmt_money(float(row.get("money") or 0.0), currency),
                examples=examples,
            )
        )
    return groups


def _clip(message: Any) -> str:
    text = str(message or "")
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"
