"""The pilot's comparison as Markdown, and its side-by-side gallery as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence

import polars as pl
from PIL import Image

from tasks.quality.pilot import Interval, PilotStats
from tasks.reports.markdown import fmt_duration, markdown_table
from tasks.storage.fs import Storage

__all__ = ["gallery_html", "pilot_frame", "pilot_markdown"]

_THUMB = 160  # px, the long side of a gallery thumbnail


def pilot_markdown(
    stats: Sequence[PilotStats], winner: str | None, currency: str, command: str | None,
    full_run: Interval | None = None,
) -> str:  # fmt: skip
    """The per-candidate table, the winner, the full run's projected cost (its fallbacks too) and its command."""
    rows = [
        {
            "provider": item.provider + (" (winner)" if item.provider == winner else ""),
            "accepted": f"{item.accepted}/{item.chains} ({_share(item.acceptance)})",
            "cost": f"{item.cost:,.4f} {currency}",
            "per_accepted": "—" if item.cost_per_accepted is None else f"{item.cost_per_accepted:,.4f} {currency}",
            "seconds": "—" if item.seconds_per_image is None else f"{item.seconds_per_image:.2f} s",
            "projected_cost": _money(item.projected_cost, currency),
            "projected_time": f"{fmt_duration(item.projected_seconds.estimate)} "
            f"({fmt_duration(item.projected_seconds.low)}–{fmt_duration(item.projected_seconds.high)})",
        }
        for item in stats
    ]
    columns = {
        "provider": "provider", "accepted": "accepted chains (95% interval)", "cost": "pilot cost",
        "per_accepted": "cost per accepted", "seconds": "time per image", "projected_cost": "whole catalog: cost",
        "projected_time": "whole catalog: duration",
    }  # fmt: skip
    lines = ["# Pilot", "", markdown_table(rows, columns), ""]
    if winner is None:
        lines.append("No candidate produced an accepted image: nothing to recommend.")
    else:
        lines.append(f"Best cost per accepted image: **{winner}**.")
        if full_run is not None:
            lines += ["", f"Full run from it, the others as its fallback: {_money(full_run, currency)} projected."]
        if command:
            lines += ["", "Start the full run from it:", "", f"    {command}"]
    return "\n".join(lines) + "\n"


def pilot_frame(stats: Sequence[PilotStats]) -> pl.DataFrame:
    """The comparison as a table (`pilot/summary.parquet`)."""
    return pl.DataFrame(
        [
            {
                "provider": item.provider,
                "chains": item.chains,
                "accepted": item.accepted,
                "acceptance": item.acceptance.estimate,
                "acceptance_low": item.acceptance.low,
                "acceptance_high": item.acceptance.high,
                "cost": item.cost,
                "cost_per_accepted": item.cost_per_accepted,
                "seconds_per_image": item.seconds_per_image,
                "projected_cost": item.projected_cost.estimate,
                "projected_cost_low": item.projected_cost.low,
                "projected_cost_high": item.projected_cost.high,
                "projected_seconds": item.projected_seconds.estimate,
            }
            for item in stats
        ]
    )


def gallery_html(results: Mapping[str, pl.DataFrame], stores: Mapping[str, Storage]) -> str:
    """One row per sampled catalog row, one column per candidate; each cell holds its outputs as thumbnails.

    Args:
        results: each candidate's pilot results (`row_id`, `output_uri`, `attempt`, `accepted`, `rejected_by`).
        stores: each candidate's output storage, to read its images from.
    """
    providers = list(results)
    row_ids = sorted({row for frame in results.values() for row in frame["row_id"].to_list()})
    head = "".join(f"<th>{html.escape(name)}</th>" for name in providers)
    body = []
    for row_id in row_ids:
        cells = "".join(
            f"<td>{_cell(results[name].filter(pl.col('row_id') == row_id), stores[name])}</td>" for name in providers
        )
        body.append(f"<tr><th>{html.escape(row_id)}</th>{cells}</tr>")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>retouch pilot</title><style>'
        "body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        "figure{display:inline-block;margin:2px}figcaption{font-size:12px}.no{color:#b00}.yes{color:#070}"
        f"</style></head><body><h1>Pilot</h1><table><tr><th>row</th>{head}</tr>{''.join(body)}</table></body></html>"
    )


def _cell(rows: pl.DataFrame, storage: Storage) -> str:
    figures = []
    for uri, attempt, accepted, rejected_by in rows.sort("attempt").select(
        "output_uri", "attempt", "accepted", "rejected_by"
    ).iter_rows():  # fmt: skip
        if uri is None:
            continue
        verdict = "accepted" if accepted or accepted is None else f"rejected: {rejected_by}"
        css = "no" if accepted is False else "yes"
        figures.append(
            f'<figure><img alt="" src="{_thumbnail(storage, uri)}"><figcaption class="{css}">'
            f"attempt {attempt} · {html.escape(verdict)}</figcaption></figure>"
        )
    return "".join(figures) or "—"


def _thumbnail(storage: Storage, uri: str) -> str:
    try:
        data = storage.read_bytes(uri.removeprefix(storage.url("").rstrip("/") + "/"))
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((_THUMB, _THUMB))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):  # a missing or unreadable image leaves an empty frame, not a failed page
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _share(interval: Interval) -> str:
    return f"{interval.estimate:.0%}, {interval.low:.0%}–{interval.high:.0%}"


def _money(interval: Interval, currency: str) -> str:
    return f"{interval.estimate:,.2f} {currency} ({interval.low:,.2f}–{interval.high:,.2f})"
