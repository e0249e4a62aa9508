"""What the CLI prints after `retouch export` and `retouch init`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tasks.exports import ExportSummary
from tasks.starter import InitResult

__all__ = ["print_export_summary", "print_init_result"]


def print_export_summary(console: Console, summary: ExportSummary) -> None:
    """Rows per split, files, skipped rows and warnings of one export."""
    table = Table(title=f"{summary.format} export → {summary.dest_uri}", show_header=False, title_justify="left")
    for name, totals in summary.splits.items():
        table.add_row(f"split {name}", f"{totals.rows} rows, {totals.bytes / 1e6:.1f} MB of images")
    table.add_row("variants", ", ".join(f"{name} {count}" for name, count in sorted(summary.variants.items())))
    table.add_row("shard files", str(len(summary.files)))
    cost = sum(totals.cost for totals in summary.providers.values())
    table.add_row("cost of these edits", f"{cost:.4f} {summary.currency}".strip())
    console.print(table)
    if summary.skipped:
        console.print(f"[yellow]{summary.skipped} row(s) left out[/] (images unreadable), e.g.:")
        for item in summary.skipped_examples[:3]:
            console.print(f"  {item.reason}", highlight=False)
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def print_init_result(console: Console, result: InitResult) -> None:
    """What `retouch init` wrote, its column guesses, and the next commands."""
    made = "written" if result.catalog_written else "used as it is"
    console.print(f"catalog: {result.catalog_uri} ({result.rows} rows, {made})", highlight=False)
    for role in ("id", "image", "prompt", "mask"):
        column = getattr(result.columns, role)
        if column:
            console.print(f"  {role}: {column!r} — {result.columns.reasons.get(role, '')}", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"config: {result.config_path}", highlight=False)
    console.print(f"next:   retouch validate {result.config_path} && retouch run {result.config_path}", highlight=False)
