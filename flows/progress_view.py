"""A run's progress per provider as people read it: a table's rows, and one line for the terminal."""

from __future__ import annotations

from typing import Any

from tasks.pipeline.tally import ProgressSnapshot, ProviderProgress
from tasks.reports.markdown import fmt_count, fmt_duration, fmt_money

__all__ = ["fmt_eta", "fmt_rate", "progress_line", "progress_rows"]


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


def progress_line(provider: ProviderProgress, currency: str) -> str:
    """`12 done · 1 failed · 3 in flight · 4.2/s · ETA 0:00:12 · 0.34 USD`, for a terminal bar."""
    parts = [f"{fmt_count(provider.done)} done", f"{fmt_count(provider.failed + provider.unknown)} failed"]
    parts += [f"{fmt_count(provider.in_flight)} in flight", fmt_rate(provider.rate), f"ETA {fmt_eta(provider.eta)}"]
    parts.append(fmt_money(provider.cost, currency))
    return " · ".join(parts)


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
