"""A run's progress per provider as people read it: rows for the Prefect table artifact, a table for the terminal."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tasks.pipeline.tally import ProgressSnapshot, ProviderProgress
from tasks.reports.markdown import fmt_count, fmt_duration, fmt_money

__all__ = ["fmt_eta", "fmt_rate", "progress_rows", "provider_table"]


def progress_rows(snapshot: ProgressSnapshot, currency: str) -> list[dict[str, Any]]:
    """One row per provider (counts as numbers, rate/ETA/spend as text), then a total row."""
    rows = [_row(provider, currency) for provider in snapshot.providers]
    total = ProviderProgress(
        provider="total",
        planned=snapshot.planned,
        **{key: sum(getattr(p, key) for p in snapshot.providers) for key in _SUMMED},
    )
    rows.append(_row(total, currency) | {"rate": "", "eta": ""})
    return rows


def provider_table(snapshot: ProgressSnapshot, currency: str) -> Table:
    """The providers' numbers for the terminal: done of planned, failed, in flight, rate, ETA, spend."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
    for heading in ("provider", "done", "failed", "in flight", "rate", "ETA", "spend"):
        table.add_column(heading, justify="left" if heading == "provider" else "right", no_wrap=True)
    for provider in snapshot.providers:
        table.add_row(
            provider.provider,
            f"{fmt_count(provider.done)}/{fmt_count(provider.planned)}",
            fmt_count(provider.failed + provider.unknown),
            fmt_count(provider.in_flight),
            fmt_rate(provider.rate),
            fmt_eta(provider.eta),
            fmt_money(provider.cost, currency),
        )
    return table


def fmt_rate(rate: float | None) -> str:
    """Jobs per second, or per minute below one a second."""
    if rate is None:
        return "—/s"
    return f"{rate:.1f}/s" if rate >= 1 else f"{rate * 60:.1f}/min"


def fmt_eta(seconds: float | None) -> str:
    return "—" if seconds is None else fmt_duration(seconds)


_SUMMED = ("succeeded", "failed", "unknown", "skipped", "in_flight", "images", "cost", "credits")


def _row(provider: ProviderProgress, currency: str) -> dict[str, Any]:
    return {
        "provider": provider.provider,
        "planned": provider.planned,
        "done": provider.done,
        "succeeded": provider.succeeded,
        "failed": provider.failed,
        "unknown": provider.unknown,
        "skipped": provider.skipped,
        "in_flight": provider.in_flight,
        "images": provider.images,
        "rate": fmt_rate(provider.rate),
        "eta": fmt_eta(provider.eta),
        "spend": fmt_money(provider.cost, currency),
        "credits": round(provider.credits, 4),
    }
