"""What `retouch runs` prints: one line per run of an output, oldest first, in 80 columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table

from tasks.pipeline.history import default_report_run
from tasks.pipeline.manifest import RunSummary
from tasks.reports.markdown import fmt_count, fmt_credits, fmt_money

__all__ = ["print_runs"]

_STATUS_ORDER = ("succeeded", "failed", "skipped", "unknown")


def print_runs(console: Console, runs: Sequence[RunSummary], output_uri: str) -> None:
    """The runs under `output_uri` as a table (newest last), and which one `retouch report` shows."""
    if not runs:
        console.print(f"no runs under {output_uri} yet", soft_wrap=True, highlight=False, markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    # The id is what a user copies (`report --run ID`): kept whole; the other cells wrap, none is cut.
    table.add_column("run", overflow="fold", no_wrap=True)
    for heading in ("started", "jobs", "spent", "forecast"):
        table.add_column(heading, overflow="fold")
    for run in runs:
        name = f"{run.run_id}\n(dry run)" if run.dry_run else run.run_id
        table.add_row(name, _started(run.started_at), _jobs(run), _spent(run), _forecast(run))
    console.print(
        f"runs under {output_uri}, oldest first (times in UTC):", soft_wrap=True, highlight=False, markup=False
    )
    console.print(table)
    chosen = default_report_run(runs)
    console.print(f"`retouch report` shows {chosen} by default; pick another with --run ID.", highlight=False)


def _started(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d}\n{moment:%H:%M:%S}"


def _jobs(run: RunSummary) -> str:
    done = [f"{fmt_count(run.counts[status])} {status}" for status in _STATUS_ORDER if run.counts.get(status)]
    if done:
        return "\n".join(done)
    if run.unchanged:  # a scheduled refresh that found nothing to plan
        return "catalog\nunchanged"
    return f"{fmt_count(run.planned)} planned" if run.dry_run else "nothing to do"


def _spent(run: RunSummary) -> str:
    if run.dry_run:
        return "—"
    return f"{fmt_credits(run.credits)} credits\n{fmt_money(run.cost, run.currency)}"


def _forecast(run: RunSummary) -> str:
    if run.forecast is None:
        return "none saved"
    forecast = run.forecast
    credits = fmt_credits(forecast.known_credits, forecast.unknown_jobs)
    return f"{credits} credits\n{fmt_money(forecast.known_money, forecast.currency, forecast.unknown_jobs)}"
