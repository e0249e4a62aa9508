"""A schedule forecast as Markdown (per month × provider, with its range), saved beside a run's actual spend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.costs.schedule import ScheduleForecast, ScheduleLine
from tasks.reports.markdown import fmt_count, fmt_money, markdown_table
from tasks.storage.fs import Storage
from tasks.storage.layout import schedule_forecast_path
from tasks.storage.parts import write_parquet

__all__ = ["ActualSpend", "schedule_markdown", "write_schedule_forecast"]

_COLUMNS = {
    "month": "month", "provider": "provider", "runs": "runs", "jobs": "jobs (low–high)",
    "money": "expected", "range": "low – high",
}  # fmt: skip


@dataclass(frozen=True)
class ActualSpend:
    """What the run publishing the forecast did: its jobs and money, and what the schedule expected of one run."""

    run_id: str
    jobs: int
    money: float
    expected_per_run: float | None
    unchanged: bool = False


def schedule_markdown(forecast: ScheduleForecast, actual: ActualSpend | None = None) -> str:
    """The projection with its range and the evidence it rests on; then this run's actual spend, if given."""
    currency = forecast.currency
    low, expected, high = forecast.money
    parts = [
        f"## Schedule forecast: `{forecast.cron}`, {len(forecast.runs)} runs "
        f"from {forecast.start:%Y-%m-%d %H:%M} to {forecast.end:%Y-%m-%d %H:%M} {forecast.start:%Z}".rstrip(),
        markdown_table([_row(line, currency) for line in forecast.lines], _COLUMNS),
        f"Total: {fmt_money(expected, currency)} expected, {_range(low, high, currency)}.",
        _evidence(forecast.refreshes_seen),
    ]
    if actual is not None:
        parts.append(_actual(actual, currency))
    return "\n\n".join(parts) + "\n"


def write_schedule_forecast(storage: Storage, run_id: str, forecast: ScheduleForecast, markdown: str) -> str:
    """Save `reports/<run_id>/schedule-forecast.md` and `.parquet`; returns the Markdown's URL."""
    write_parquet(storage, schedule_forecast_path(run_id, "parquet"), forecast.to_frame().to_arrow())
    return storage.write_bytes(schedule_forecast_path(run_id, "md"), markdown.encode())


def _row(line: ScheduleLine, currency: str) -> dict[str, Any]:
    return {
        "month": line.month, "provider": line.provider, "runs": fmt_count(line.runs),
        "jobs": f"{line.jobs:,.1f} ({line.jobs_low:,.0f}–{line.jobs_high:,.0f})",
        "money": fmt_money(line.money, currency), "range": _range(line.money_low, line.money_high, currency),
    }  # fmt: skip


def _range(low: float | None, high: float | None, currency: str) -> str:
    return f"{fmt_money(low, currency)} – {fmt_money(high, currency)}"


def _evidence(seen: int) -> str:
    if not seen:
        return (
            "No refresh seen yet: the first run does what is not done now, later runs are expected to find "
            "nothing, and the high end guesses a tenth of the catalog per run."
        )
    few = " (few: the range is widened to 0 – 2× the largest)" if seen < 3 else ""
    return f"Change rate from the last {seen} refresh{'es' if seen != 1 else ''}{few}."


def _actual(actual: ActualSpend, currency: str) -> str:
    what = "found the catalog and config unchanged" if actual.unchanged else f"ran {fmt_count(actual.jobs)} jobs"
    expected = (
        f"; the schedule expects {fmt_money(actual.expected_per_run, currency)} per run"
        if actual.expected_per_run is not None
        else ""
    )
    return f"This run ({actual.run_id}) {what} and spent {fmt_money(actual.money, currency)}{expected}."
