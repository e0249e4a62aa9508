"""Run in a child process by test_memory.py: many near-limit images through `run_shard` at full concurrency.

Usage: python -m tests.reliability.memory_child <folder> <memory_mb>. Prints one JSON line:
the child's baseline and peak RSS (bytes, from getrusage), the budget's peak and the job counts.
"""

from __future__ import annotations

import asyncio
import io
import json
import resource
import sys
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from tasks.core.config import parse_config
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.executor import run_shard
from tasks.pipeline.memory import ceiling_bytes, process_budget
from tasks.pipeline.plan import plan_jobs

SIDE = 1000  # 1 MP RGB: 3 MB decoded, ~3 MB of noise PNG; max_pixels is set just above it
JOBS = 12


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _write_catalog(folder: Path) -> Path:
    rng = np.random.default_rng(7)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for index in range(JOBS):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8)).save(buffer, "PNG", compress_level=1)
        (folder / "images" / f"{index}.png").write_bytes(buffer.getvalue())
    Image.new("RGB", (16, 16), (90, 20, 200)).save(folder / "images" / "warm.png")
    ids = ["warm"] + [f"r{index}" for index in range(JOBS)]
    images = ["images/warm.png"] + [f"images/{index}.png" for index in range(JOBS)]
    frame = pl.DataFrame({"id": ids, "image": images, "prompt": ["noise 6"] * (JOBS + 1)})
    frame.write_parquet(folder / "catalog.parquet")
    return folder / "catalog.parquet"


def main(folder: Path, memory_mb: int) -> None:
    catalog = _write_catalog(folder)
    raw = {
        "catalog": {"uri": str(catalog), "sources": {"max_pixels": SIDE * SIDE + 1000}},
        "edits": [{"name": "noisy", "provider": "local", "seeds": [1]}],
        # Edits in this process: its own RSS is what the budget bounds (worker processes each edit one job
        # at a time and refuse one over the ceiling: tests/test_local_workers.py).
        "providers": {"local": {"options": {"workers": 0}}},
        "output": {"uri": str(folder / "out")},
        "execution": {"concurrency": 16, "memory_mb": memory_mb},
    }
    config = parse_config(raw)
    jobs = [job for rows in iter_catalog(config.catalog) for job in plan_jobs(rows, config)]
    # Warm up on a 16x16 job (imports, codecs, the budget's allocator setting), then take the baseline.
    asyncio.run(run_shard(jobs[:1], config, run_id="warm", api_keys={}))
    baseline = _rss()
    summary = asyncio.run(run_shard(jobs[1:], config, run_id="load", api_keys={}))
    budget = process_budget(ceiling_bytes(memory_mb))
    report = {"baseline": baseline, "peak": _rss(), "budget_peak": budget.peak, "counts": summary.counts}
    print(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
