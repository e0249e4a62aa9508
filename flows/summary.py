"""What the CLI prints after a run and for `retouch show`: one screen that fits 80 columns, paths never cut."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tasks.storage.layout import report_page_path

if TYPE_CHECKING:  # the CLI imports this module at start: keep the pipeline's imports for when a run happens
    from tasks.pipeline.manifest import RunSummary

__all__ = ["STATUSES", "latest_rows", "print_results_summary", "print_run_summary"]

STATUSES = ("succeeded", "failed", "skipped", "unknown")
_MESSAGES_PER_GROUP = 5  # distinct messages shown under one provider × error type


def print_run_summary(console: Console, summary: RunSummary) -> None:
    """The counts, spend and time of a run (or dry run), where its results are, and what to do next."""
    counts = summary.counts
    title = "dry run — nothing edited" if summary.dry_run else f"run {summary.run_id}"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    table.add_row("jobs planned", str(summary.planned))
    table.add_row("already done (skipped)", str(summary.already_done))
    table.add_row("to run", f"{summary.to_run} ({_kinds(summary)})")
    if summary.held_unknown:
        table.add_row(
            "[yellow]held: outcome unknown[/]", f"{summary.held_unknown} (set resubmit_unknown to risk re-sending)"
        )
    if summary.removed:
        table.add_row("earlier jobs no longer planned", str(summary.removed))
    for status in STATUSES:
        if status in counts:
            table.add_row(f"  {status}", str(counts[status]))
    table.add_row("images written", str(summary.images))
    if summary.credits or summary.cost:
        table.add_row("spent", f"{summary.credits:,.6g} credits ({summary.cost:,.2f} {summary.currency})")
    if summary.billing_risk:
        table.add_row("[yellow]jobs that may have billed twice[/]", str(summary.billing_risk))
    table.add_row("time", f"{summary.seconds:.1f} s")
    console.print(table)
    for _, reason in sorted(summary.lanes_stopped.items()):
        console.print(f"[bold red]lane stopped[/] {escape(reason)}", highlight=False)
    # Outside the table: a path is never cut to fit a column, and a terminal can select it whole.
    _print_path(console, "results", summary.results_uri)
    if summary.manifest_uri:
        _print_path(console, "manifest", summary.manifest_uri)
    if not summary.dry_run:
        _print_path(console, "report", f"{summary.output_uri.rstrip('/')}/{report_page_path(summary.run_id)}")
    _print_next_step(console, summary)


def _kinds(summary: RunSummary) -> str:
    kinds = {"new": summary.new, "changed": summary.changed, "retried": summary.retried, "forced": summary.forced}
    text = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
    return text + (f" ({summary.passed_over} passed over by --only-failed)" if summary.passed_over else "")


def _print_next_step(console: Console, summary: RunSummary) -> None:
    failed = summary.counts.get("failed", 0)
    if summary.dry_run or summary.interrupted:  # a stopped run: the CLI says how to resume
        return
    if summary.planned == 0:
        console.print(
            "[yellow]Nothing to do:[/] the catalog has no rows to edit after its filter and limit "
            "(catalog.filter, catalog.limit, --limit)."
        )
    elif summary.to_run == 0 and summary.held_unknown:
        console.print("[yellow]Nothing sent:[/] the jobs not done are held because their outcome is unknown.")
    elif summary.to_run == 0 and summary.passed_over:
        console.print("[green]Nothing to retry:[/] no job that --only-failed selects ended unsuccessfully.")
    elif summary.to_run == 0:
        console.print("[green]Nothing to do:[/] every job already succeeded (use --force to run them again).")
    elif failed:
        console.print(
            f"[yellow]{failed} job(s) failed[/]; see `retouch show {summary.output_uri} --status failed`. "
            "Run the same command again to retry them: jobs that succeeded are skipped.",
            highlight=False,
        )


def _print_path(console: Console, label: str, path: str) -> None:
    console.print(f"{label}: {path}", soft_wrap=True, highlight=False, markup=False)


def print_results_summary(
    console: Console, frame: pl.DataFrame, output_uri: str, *, rows: int, filters: Mapping[str, str | None]
) -> None:
    """Counts by variant, provider and status; failures by provider × error type with each message; rows.

    Args:
        console: where to print.
        frame: the whole results table.
        output_uri: shown in the heading.
        rows: how many result rows to print (a stable order: row id, variant, seed, output).
        filters: column -> value to keep (status, variant, provider); None keeps all.
    """
    latest = latest_rows(frame)
    for column, value in filters.items():
        if value is not None:
            latest = latest.filter(pl.col(column) == value)
    if latest.is_empty():
        _print_nothing_matched(console, frame, output_uri, filters)
        return
    _print_counts(console, latest, output_uri)
    _print_failures(console, latest.filter(pl.col("status") == "failed"))
    if rows:
        _print_rows(console, latest, rows)


def latest_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Each job's rows from its latest attempt only: a job that failed, then succeeded, is succeeded."""
    # A failed row has no output_index and a succeeded one has 0, so (job, index) alone keeps both.
    ended = pl.col("finished_at").fill_null(pl.lit(0).cast(pl.Datetime("us", "UTC")))
    latest = frame.with_columns(ended.alias("_ended")).filter(
        pl.col("_ended") == pl.col("_ended").max().over("job_key")
    )
    return latest.unique(subset=["job_key", "output_index"], keep="last").drop("_ended")


def _print_nothing_matched(
    console: Console, frame: pl.DataFrame, output_uri: str, filters: Mapping[str, str | None]
) -> None:
    if frame.is_empty():
        console.print(f"no results under {output_uri} yet", soft_wrap=True, highlight=False, markup=False)
        return
    wanted = ", ".join(f"--{key} {value}" for key, value in filters.items() if value is not None)
    console.print(f"no result rows match {wanted}; the table has:", highlight=False, markup=False)
    for column in filters:
        values = sorted(str(value) for value in frame.get_column(column).unique().drop_nulls().to_list())
        console.print(f"  {column}: {', '.join(values)}", highlight=False, markup=False)


def _print_counts(console: Console, latest: pl.DataFrame, output_uri: str) -> None:
    console.print(
        f"results under {output_uri} (latest row per job and image)", soft_wrap=True, highlight=False, markup=False
    )
    by_variant = latest.group_by("variant", "provider", "status").agg(pl.len().alias("rows"))
    table = Table(title_justify="left")
    for column in ("variant", "provider", "status", "rows"):
        table.add_column(column, overflow="fold")
    for record in by_variant.sort("variant", "provider", "status").iter_rows(named=True):
        table.add_row(*(str(record[column]) for column in ("variant", "provider", "status", "rows")))
    console.print(table)


def _print_failures(console: Console, failed: pl.DataFrame) -> None:
    """Failed jobs grouped by provider × error type, each distinct message with how many jobs said it."""
    if failed.is_empty():
        return
    jobs = failed.unique(subset=["job_key"])  # a failed job has one row, but never count a job twice
    messages = (
        jobs.group_by("provider", "error_type", "error_message")
        .agg(pl.len().alias("jobs"))
        .with_columns(pl.col("jobs").sum().over("provider", "error_type").alias("group_jobs"))
        .sort(
            ["group_jobs", "provider", "error_type", "jobs", "error_message"],
            descending=[True, False, False, True, False],
        )
    )
    console.print(f"[yellow]failures[/] ({jobs.height} jobs, by provider × error type):")
    for (provider, error_type), group in messages.group_by("provider", "error_type", maintain_order=True):
        console.print(f"  {provider} × {error_type}: {group['jobs'].sum()} job(s)", highlight=False, markup=False)
        for record in group.head(_MESSAGES_PER_GROUP).iter_rows(named=True):
            message = record["error_message"] or "(no message)"
            # Soft-wrapped: a message often quotes a path, which rich would otherwise break mid-name.
            console.print(f"    {record['jobs']} × {message}", soft_wrap=True, highlight=False, markup=False)
        if group.height > _MESSAGES_PER_GROUP:
            console.print(f"    … and {group.height - _MESSAGES_PER_GROUP} other message(s)", highlight=False)


def _print_rows(console: Console, latest: pl.DataFrame, rows: int) -> None:
    order = ["row_id", "variant", "seed", "output_index"]
    shown = latest.sort(order, nulls_last=True).head(rows)
    console.print(f"rows (first {shown.height} by {', '.join(order)}):")
    for record in shown.iter_rows(named=True):
        size = f"{record['width']}×{record['height']}" if record["width"] is not None else ""
        where = record["output_uri"] or record["error_type"] or ""
        line = f"  {record['row_id']}  {record['variant']}  seed {record['seed']}  {record['status']}  {size}  {where}"
        console.print(line, soft_wrap=True, highlight=False, markup=False)
