"""Markdown (reports, forecasts) on the terminal, with tables that wrap their cells instead of cutting them."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown, MarkdownElement, TableElement
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["print_markdown"]

_UNBOUNDED = 10_000  # columns: wide enough to measure a table's natural width


class _FoldingTable(TableElement):
    """rich's Markdown table, never cut with "…": too wide for the terminal, each row becomes a block of
    "heading  value" lines; otherwise long cells fold onto more lines."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for renderable in super().__rich_console__(console, options):
            if not isinstance(renderable, Table):
                yield renderable
            elif Measurement.get(console, options.update_width(_UNBOUNDED), renderable).maximum > options.max_width:
                yield from _as_records(renderable)
            else:
                for column in renderable.columns:
                    column.overflow = "fold"
                yield renderable


def _as_records(table: Table) -> RenderResult:
    rows = zip(*(list(column.cells) for column in table.columns), strict=True)
    for row in rows:
        record = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        record.add_column(style="bold", no_wrap=True)
        record.add_column(overflow="fold")
        for column, cell in zip(table.columns, row, strict=True):
            record.add_row(column.header, cell)
        yield record
        yield Text()


class _Markdown(Markdown):
    elements: ClassVar[dict[str, type[MarkdownElement]]] = {**Markdown.elements, "table_open": _FoldingTable}


def print_markdown(console: Console, text: str) -> None:
    """Render Markdown to `console`; tables fit the width by wrapping, so no value is cut."""
    console.print(_Markdown(text))
