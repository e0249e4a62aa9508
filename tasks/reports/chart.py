"""A PNG chart of cumulative spend by provider over a run, drawn off-screen (no display, no pyplot)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["spend_chart", "spend_chart_png"]

# ConciseDateFormatter's formats for ticks at year, month, day, hour, minute and second resolution (and
# for ticks on a round value of the level above); its defaults show seconds as "48.8" or "19:58".
_TICK_FORMATS = ["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"]
_ZERO_FORMATS = ["", "%Y", "%b", "%b-%d", "%H:%M", "%H:%M:%S"]
_MIN_SPAN = timedelta(seconds=4)  # below whole-second ticks, labels would repeat or show microseconds


def spend_chart_png(ledger: pl.DataFrame, *, currency: str, title: str = "Cumulative spend by provider") -> bytes:
    """Cumulative money per provider against ledger time, as PNG bytes.

    Plots credits instead when no row has a money value above zero (e.g. only the free local provider,
    or credit values not configured). An empty ledger gives a chart saying so.

    Args:
        ledger: cost ledger rows (`time`, `provider`, `credits`, `money`).
        currency: shown on the money axis.
        title: the chart title.
    """
    figure = spend_chart(ledger, currency=currency, title=title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def spend_chart(ledger: pl.DataFrame, *, currency: str, title: str = "Cumulative spend by provider") -> Figure:
    """The figure `spend_chart_png` draws (same arguments), for callers that embed or inspect it."""
    # The object-oriented API with the Agg canvas: no global backend switch, safe in worker threads.
    # Imported here, not at the top: matplotlib takes a second to import and most commands never draw.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    column, label = _measure(ledger, currency)
    frame = ledger.filter(pl.col(column).is_not_null()).sort("time")
    if frame.is_empty():
        axes.text(0.5, 0.5, "no billed requests", ha="center", va="center", transform=axes.transAxes)
    end = frame.get_column("time").max() if not frame.is_empty() else None
    for (provider,), part in frame.group_by("provider", maintain_order=True):
        times = part.get_column("time").to_list()
        totals = part.get_column(column).cum_sum().to_list()
        # From zero at the provider's first charge, held flat to the run's last one.
        axes.step([times[0], *times, end], [0.0, *totals, totals[-1]], where="post", label=str(provider))
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel(label)
    if not frame.is_empty():
        axes.legend(loc="upper left")
        _time_axis(axes, frame.get_column("time").min(), end)
    figure.tight_layout()
    return figure


def _time_axis(axes: Axes, start: Any, end: Any) -> None:
    """Date ticks that read "19:57:48", not matplotlib's default "57:48.800000" on a short run."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if end - start < _MIN_SPAN:
        middle = start + (end - start) / 2
        axes.set_xlim(middle - _MIN_SPAN / 2, middle + _MIN_SPAN / 2)
    # matplotlib.dates ships no annotations for these two constructors.
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    formatter = ConciseDateFormatter(locator, formats=_TICK_FORMATS, zero_formats=_ZERO_FORMATS)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(formatter)


def _measure(ledger: pl.DataFrame, currency: str) -> tuple[str, str]:
    if "money" in ledger.columns and ledger.filter(pl.col("money") > 0).height:
        return "money", f"spend ({currency})"
    return "credits", "credits"
