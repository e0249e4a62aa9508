"""What the CLI prints after a run and for `retouch show`: one screen, rich tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the CLI imports this module at start: keep the pipeline's imports for when a run happens
    from tasks.pipeline.manifest import RunSummary

__all__ = ["print_results_summary", "print_run_summary"]


def print_run_summary(console: Console, summary: RunSummary) -> None:
    counts = summary.counts
    title = "dry run — nothing edited" if summary.dry_run else f"run {summary.run_id}"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_row("jobs planned", str(summary.planned))
    table.add_row("already done (skipped)", str(summary.already_done))
    table.add_row("to run", f"{summary.to_run} ({summary.new} new, {summary.changed} changed)")
    if summary.held_unknown:
        table.add_row(
            "[yellow]held: outcome unknown[/]", f"{summary.held_unknown} (set resubmit_unknown to risk re-sending)"
        )
    if summary.removed:
        table.add_row("earlier jobs no longer planned", str(summary.removed))
    for status in ("succeeded", "failed", "skipped", "unknown"):
        if status in counts:
            table.add_row(f"  {status}", str(counts[status]))
    table.add_row("images written", str(summary.images))
    if summary.credits:
        table.add_row("credits used", f"{summary.credits:g}")
    if summary.billing_risk:
        table.add_row("[yellow]jobs that may have billed twice[/]", str(summary.billing_risk))
    table.add_row("time", f"{summary.seconds:.1f} s")
    table.add_row("results", summary.results_uri)
    if summary.manifest_uri:
        table.add_row("manifest", summary.manifest_uri)
    console.print(table)
    if summary.to_run == 0 and not summary.dry_run:
        console.print("[green]Nothing to do:[/] every job already succeeded (use --force to run them again).")
    elif counts.get("failed"):
        console.print(f"[yellow]{counts['failed']} job(s) failed[/]; see `retouch show {summary.output_uri}`.")


def print_results_summary(console: Console, frame: pl.DataFrame, output_uri: str, *, rows: int) -> None:
    if frame.is_empty():
        console.print(f"no results under {output_uri}")
        return
    latest = frame.sort("finished_at").unique(subset=["job_key", "output_index"], keep="last")
    by_variant = latest.group_by("variant", "provider", "status").agg(pl.len().alias("rows")).sort("variant", "status")
    table = Table(title=f"results under {output_uri} (latest row per job and image)", title_justify="left")
    for column in ("variant", "provider", "status", "rows"):
        table.add_column(column)
    for record in by_variant.iter_rows(named=True):
        table.add_row(*(str(record[column]) for column in ("variant", "provider", "status", "rows")))
    console.print(table)
    failed = latest.filter(pl.col("status") == "failed")
    if failed.height:
        reasons = (
            failed.group_by("error_type")
            .agg(pl.len().alias("jobs"), pl.col("error_message").first())
            .sort("jobs", descending=True)
        )
        console.print("[yellow]failures:[/]")
        for record in reasons.iter_rows(named=True):
            console.print(f"  {record['jobs']} × {record['error_type']}: {record['error_message']}", highlight=False)
    if rows:
        shown = latest.select("row_id", "variant", "seed", "status", "width", "height", "output_uri").head(rows)
        console.print(shown)
