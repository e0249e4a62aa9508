"""Plain Markdown tables and number formats shared by forecasts and reports (unknown is never shown as 0)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["fmt_count", "fmt_credits", "fmt_duration", "fmt_jobs", "fmt_money", "fmt_percent", "markdown_table"]

UNKNOWN = "unknown"


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> str:
    """A GitHub-style table.

    Args:
        rows: the rows, already formatted or plain values (None shows as an em dash).
        columns: row key -> column heading, in display order.
    """
    header = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [header, rule]
    for row in rows:
        cells = [_cell(row.get(key)) for key in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt_count(value: float | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_jobs(count: int) -> str:
    return f"{count:,} job" if count == 1 else f"{count:,} jobs"


def fmt_credits(value: float | None, unknown_jobs: int = 0) -> str:
    """Credits with thousands separators; `unknown` (or `N + unknown`) when some jobs have no price."""
    if value is None:
        return UNKNOWN
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} + {UNKNOWN} ({fmt_jobs(unknown_jobs)})" if unknown_jobs else text


def fmt_money(value: float | None, currency: str, unknown_jobs: int = 0) -> str:
    if value is None:
        return UNKNOWN
    text = f"{value:,.2f} {currency}"
    return f"{text} + {UNKNOWN}" if unknown_jobs else text


def fmt_percent(value: float | None) -> str:
    """A signed percentage with one decimal; anything that rounds to zero is `0.0%` (never `-0.0%`)."""
    if value is None:
        return "—"
    rounded = round(value, 1)
    return "0.0%" if rounded == 0 else f"{rounded:+.1f}%"


def fmt_duration(seconds: float | None) -> str:
    """H:MM:SS, or `unbounded` when nothing in the config limits the pace."""
    if seconds is None:
        return "unbounded (no rate limit or in-flight cap configured)"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return str(value).replace("|", "\\|").replace("\n", " ")
