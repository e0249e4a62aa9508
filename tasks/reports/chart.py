"""A PNG chart of cumulative spend by provider over a run, drawn off-screen (no display, no pyplot)."""

from __future__ import annotations

import io

import polars as pl

__all__ = ["spend_chart_png"]


def spend_chart_png(ledger: pl.DataFrame, *, currency: str, title: str = "Cumulative spend by provider") -> bytes:
    """Cumulative money per provider against ledger time, as PNG bytes.

    Plots credits instead when no row has a money value above zero (e.g. only the free local provider,
    or credit values not configured). An empty ledger gives a chart saying so.

    Args:
        ledger: cost ledger rows (`time`, `provider`, `credits`, `money`).
        currency: shown on the money axis.
        title: the chart title.
    """
    # The object-oriented API with the Agg canvas: no global backend switch, safe in worker threads.
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
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _measure(ledger: pl.DataFrame, currency: str) -> tuple[str, str]:
    if "money" in ledger.columns and ledger.filter(pl.col("money") > 0).height:
        return "money", f"spend ({currency})"
    return "credits", "credits"
