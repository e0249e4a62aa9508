"""What `retouch validate` prints: the config and catalog counts, the forecast, and the jobs that would fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:  # the CLI imports the pipeline only when a command runs
    from tasks.pipeline.prepared import PreparedRun
    from tasks.pipeline.row_checks import RowFindings

__all__ = ["print_row_findings", "print_validation"]


def print_validation(console: Console, prepared: PreparedRun, source: str) -> None:
    """The config is valid: its catalog, variants, job counts and forecast totals."""
    from tasks.reports.markdown import fmt_credits, fmt_duration, fmt_money

    rows, config, forecast = prepared.rows, prepared.config, prepared.forecast
    console.print(f"[green]config OK[/]: {source}", highlight=False)
    console.print(f"catalog: {config.catalog.uri} — {rows} rows", highlight=False, soft_wrap=True)
    for edit in config.edits:
        console.print(
            f"  {edit.name}: {edit.provider} × {len(edit.seeds)} seed(s) × count {edit.count}"
            f" → {rows * len(edit.seeds)} jobs"
        )
    console.print(
        f"jobs: {prepared.plan.planned}; already succeeded under {config.output.uri}: {prepared.plan.already_done}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"forecast: {forecast.jobs:,} jobs to run, {fmt_credits(forecast.known_credits, forecast.unknown_jobs)} "
        f"credits ({fmt_money(forecast.known_money, forecast.currency, forecast.unknown_jobs)}), "
        f"about {fmt_duration(forecast.seconds)}",
        highlight=False,
    )


def print_row_findings(console: Console, findings: RowFindings) -> None:
    """What the row checks looked at, and each kind of job that would fail with its first rows."""
    from tasks.pipeline.row_checks import REMOTE_SAMPLE

    console.print(
        f"sources checked against catalog.sources: {findings.local_files:,} local file(s), every one looked up; "
        f"{findings.remote_checked:,} of {findings.remote_total:,} object-store URL(s) looked up (the first "
        f"{REMOTE_SAMPLE}); {findings.web_sources:,} http(s) URL(s), not fetched (the run does)",
        highlight=False,
    )
    if not findings.problems:
        return
    console.print(f"[yellow]jobs that would fail: {findings.jobs_failing:,}[/]", highlight=False)
    for problem in findings.problems:
        rows = ", ".join(problem.rows) + (" …" if problem.more_rows else "")
        console.print(
            f"  {problem.what}: {problem.jobs:,} job(s) (rows {rows}); first: {problem.message}",
            highlight=False,
            soft_wrap=True,
        )
