"""A forecast rendered as Markdown: the cost table with a total row, then the expected durations."""

from __future__ import annotations

from typing import Any

from tasks.costs.duration import DurationEstimate
from tasks.costs.forecast import Forecast, ForecastGroup
from tasks.reports.markdown import fmt_count, fmt_credits, fmt_duration, fmt_jobs, fmt_money, markdown_table

__all__ = ["forecast_markdown"]

_COLUMNS = {
    "provider": "provider", "model": "model", "variant": "variant", "jobs": "jobs", "images": "images",
    "credits": "credits", "money": "money", "unknown": "unknown-priced jobs",
}  # fmt: skip

_DURATION_COLUMNS = {
    "provider": "provider", "jobs": "jobs", "mode": "mode", "per_job": "requests/job", "requests": "requests",
    "latency": "latency (s)", "bound_by": "bound by", "duration": "duration",
}  # fmt: skip


def forecast_markdown(forecast: Forecast) -> str:
    """The forecast as Markdown : cost table with a total row, then expected durations."""
    currency = forecast.currency
    total = ForecastGroup(
        "**total**", "", "", forecast.jobs, forecast.images, forecast.known_credits, forecast.known_money,
        forecast.unknown_jobs,
    )  # fmt: skip
    rows = [_display(group, currency) for group in (*forecast.groups, total)]
    parts = [
        f"## Cost forecast (prices in force on {forecast.at.isoformat()}, {currency})",
        markdown_table(rows, _COLUMNS),
    ]
    if forecast.unknown_jobs:
        parts.append(f"{fmt_jobs(forecast.unknown_jobs)} without a known price: their cost is unknown, not zero.")
    if forecast.durations:
        parts += [
            "### Expected duration",
            markdown_table([_duration_row(item) for item in forecast.durations], _DURATION_COLUMNS),
            f"Expected total: {fmt_duration(forecast.seconds)} (providers run side by side).",
        ]
    return "\n\n".join(parts) + "\n"


def _display(group: ForecastGroup, currency: str) -> dict[str, Any]:
    # A partly unknown group shows its known part plus "unknown", never a bare number.
    known = group.unknown_jobs < group.jobs or group.jobs == 0  # nothing to run costs 0, not "unknown"
    return {
        "provider": group.provider, "model": group.model, "variant": group.variant,
        "jobs": fmt_count(group.jobs), "images": fmt_count(group.images),
        "credits": fmt_credits(group.known_credits if known else None, group.unknown_jobs),
        "money": fmt_money(group.known_money if known else None, currency, group.unknown_jobs),
        "unknown": fmt_count(group.unknown_jobs),
    }  # fmt: skip


def _duration_row(item: DurationEstimate) -> dict[str, Any]:
    return {
        "provider": item.provider, "jobs": fmt_count(item.jobs), "mode": item.mode, "per_job": item.requests_per_job,
        "requests": fmt_count(item.requests), "latency": f"{item.latency_seconds:g}", "bound_by": item.bound_by,
        "duration": fmt_duration(item.seconds),
    }  # fmt: skip
