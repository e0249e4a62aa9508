"""Export at 10k and 100k rows: rows/s and peak RSS of each, to show the export streams in flat memory.

python bench/export.py [--format hf|webdataset|parquet] [--rows 10000,100000]

Results parts are written directly (RESULT_SCHEMA, 1,000 rows a part) over tiny PNGs: 1,000 distinct
sources, and one edited image per row (hard links of one file per part, at the layout's key-derived paths).
Each size is exported in a fresh process, so each peak RSS is that export's own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from common import goal, peak_rss_mb, small_png

from tasks.core.config import parse_config
from tasks.storage.layout import image_path, results_part_path
from tasks.storage.results import RESULT_SCHEMA

PART_ROWS = 1000
SOURCES = 1000


def build(root: Path, rows: int) -> Path:
    """An output folder holding `rows` succeeded results rows and their images."""
    output, sources = root / "out", root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for index in range(SOURCES):
        (sources / f"{index}.png").write_bytes(small_png(index))
    for start in range(0, rows, PART_ROWS):
        edited = root / f"edited-{start}.png"  # one file per part: a file takes at most ~65k hard links
        edited.write_bytes(small_png(start // PART_ROWS, (48, 64)))
        frame = _part(output, sources, edited, range(start, min(rows, start + PART_ROWS)))
        path = output / results_part_path("bench")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)
    return output


def _part(output: Path, sources: Path, edited: Path, indices: range) -> pl.DataFrame:
    now = datetime.now(UTC)
    records = []
    for i in indices:
        key = uuid.uuid4().hex
        target = output / image_path(f"v{i % 3}", key, 0, "png")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(edited, target)
        records.append(
            {
                **dict.fromkeys(RESULT_SCHEMA),
                **{"job_key": key, "output_index": 0, "row_id": f"r{i // 3}", "variant": f"v{i % 3}"},
                **{"provider": "local", "seed": 1, "count": 1, "prompt": "sepia", "params": "{}"},
                **{"source": str(sources / f"{(i // 3) % SOURCES}.png"), "output_uri": str(target)},
                **{"width": 48, "height": 64, "format": "png", "status": "succeeded", "attempts": 1},
                **{"started_at": now, "finished_at": now, "credits": 1.0, "cost": 0.01, "run_id": "bench"},
            }
        )
    extras = pl.DataFrame({"title": [f"item {i}" for i in indices]})
    return pl.concat([pl.DataFrame(records, schema=RESULT_SCHEMA), extras], how="horizontal")


def measure(output: str, dest: str, fmt: str) -> None:
    """In a fresh process: export `output` to `dest`; print rows, seconds and peak RSS as JSON."""
    from tasks.exports import ExportOptions, export_results
    from tasks.storage.fs import Storage

    config = parse_config(
        {
            "catalog": {"uri": "unused.parquet"},
            "edits": [{"name": "v", "provider": "local"}],
            "output": {"uri": output},
        }
    )
    floor = peak_rss_mb()
    started = time.perf_counter()
    summary = export_results(Storage(output), Storage(dest), config, ExportOptions(format=fmt))  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": summary.rows, "seconds": seconds, "rss": peak_rss_mb(), "floor": floor}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", default="hf", choices=["hf", "webdataset", "parquet"])
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    figures = {}
    with tempfile.TemporaryDirectory(prefix="retouch-bench-export-") as scratch:
        for rows in (int(text) for text in args.rows.split(",")):
            built = time.perf_counter()
            output = build(Path(scratch) / str(rows), rows)
            print(f"built {rows} rows in {time.perf_counter() - built:.0f} s", file=sys.stderr)
            dest = str(Path(scratch) / f"{rows}-export")
            child = [sys.executable, __file__, "--measure", str(output), dest, args.format]
            figures[rows] = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
    print(f"format: {args.format}")
    for rows, figure in figures.items():
        print(
            f"{rows:>7} rows: {figure['rows'] / figure['seconds']:8.0f} rows/s, {figure['seconds']:6.1f} s, "
            f"peak RSS {figure['rss']:5.0f} MB (after imports {figure['floor']:.0f} MB)"
        )
    small, large = min(figures), max(figures)
    goal(f"peak RSS {large} ÷ {small} rows", figures[large]["rss"] / figures[small]["rss"], 1.2)


if __name__ == "__main__":
    main()
