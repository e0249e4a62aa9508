"""The memory budget: bytes and decoded pixels in flight stay under `execution.memory_mb`.

The budget itself is tested across threads and event loops; the ceiling is tested for real in a child
process that edits many near-limit images at full concurrency and reports its peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from tasks.core.config import parse_config
from tasks.core.errors import SourceRefused
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.executor import run_shard
from tasks.pipeline.memory import MB, MemoryBudget, ceiling_bytes
from tasks.pipeline.plan import plan_jobs
from tests.helpers import make_png

ROOT = Path(__file__).resolve().parents[2]


def test_peak_rss_of_many_near_limit_images_stays_under_the_ceiling(tmp_path: Path) -> None:
    ceiling_mb = 320  # two 1 MP noise edits at a time, out of 16 allowed by concurrency
    child = subprocess.run(
        [sys.executable, "-m", "tests.reliability.memory_child", str(tmp_path), str(ceiling_mb)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(child.stdout.strip().splitlines()[-1])

    assert report["counts"] == {"succeeded": 12}
    assert report["peak"] - report["baseline"] <= ceiling_mb * MB, report
    assert 2 * 100 * MB < report["budget_peak"] <= ceiling_mb * MB  # saturated: jobs really overlapped


def test_a_job_bigger_than_the_whole_ceiling_fails_as_a_row_and_the_rest_run(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    big = np.random.default_rng(1).integers(0, 255, (1500, 1500, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "images" / "big.png", compress_level=1)
    make_png(tmp_path / "images" / "small.png")
    frame = pl.DataFrame(
        {"id": ["big", "small"], "image": ["images/big.png", "images/small.png"], "prompt": ["sepia"] * 2}
    )
    frame.write_parquet(tmp_path / "catalog.parquet")
    config = parse_config(
        {
            "catalog": {"uri": str(tmp_path / "catalog.parquet")},
            "edits": [{"name": "s", "provider": "local"}],
            "output": {"uri": str(tmp_path / "out")},
            "execution": {"memory_mb": 64},
        }
    )
    jobs = [job for rows in iter_catalog(config.catalog) for job in plan_jobs(rows, config)]

    summary = asyncio.run(run_shard(jobs, config, run_id="r", api_keys={}))

    assert summary.counts == {"failed": 1, "succeeded": 1}
    table = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet").filter(pl.col("status") == "failed")
    assert table["row_id"].to_list() == ["big"] and table["error_type"].to_list() == ["SourceRefused"]
    assert (
        "row big" in table["error_message"][0]
        and "memory ceiling (64 MB, execution.memory_mb)" in table["error_message"][0]
    )


def test_a_reservation_over_the_capacity_is_refused_at_once() -> None:
    budget = MemoryBudget(100)
    with pytest.raises(SourceRefused, match=r"row 9 needs .* more than the memory ceiling"):
        asyncio.run(budget.reserve(101, what="row 9"))
    assert budget.held == 0


def test_waiters_are_served_in_order_and_a_large_one_is_not_starved() -> None:
    async def scenario() -> list[str]:
        budget, order = MemoryBudget(100), []
        first = await budget.reserve(60, what="a")

        async def job(name: str, amount: int) -> None:
            reservation = await budget.reserve(amount, what=name)
            order.append(name)
            reservation.release()

        waiting = [asyncio.create_task(job("large", 90))]
        await asyncio.sleep(0)
        waiting += [asyncio.create_task(job(f"small-{i}", 10)) for i in range(3)]
        await asyncio.sleep(0)
        assert order == []  # 60 + 10 would fit, but the small ones wait behind the large one
        first.shrink_to(5)  # 5 + 90 fits: the large one goes first
        await asyncio.gather(*waiting)
        first.release()
        return order

    assert asyncio.run(scenario())[0] == "large"


def test_a_cancelled_waiter_leaves_nothing_held() -> None:
    async def scenario() -> int:
        budget = MemoryBudget(100)
        held = await budget.reserve(100, what="a")
        waiter = asyncio.create_task(budget.reserve(50, what="b"))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        held.release()
        return budget.held

    assert asyncio.run(scenario()) == 0


def test_loops_in_several_threads_share_one_ceiling_without_deadlock() -> None:
    budget, capacity = MemoryBudget(1000), 1000
    seen: list[int] = []

    async def shard(seed: int) -> None:
        rng = random.Random(seed)

        async def job() -> None:
            reservation = await budget.reserve(rng.randint(50, 1000), what="job")
            seen.append(budget.held)
            await asyncio.sleep(0)
            reservation.shrink_to(rng.randint(0, reservation.amount))
            await asyncio.sleep(0)
            reservation.release()

        await asyncio.gather(*(job() for _ in range(60)))

    threads = [threading.Thread(target=asyncio.run, args=(shard(seed),)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert len(seen) == 240 and max(seen) <= capacity and budget.peak <= capacity and budget.held == 0


def test_the_default_ceiling_is_a_share_of_the_machine_within_bounds() -> None:
    assert ceiling_bytes(512) == 512 * MB
    assert 1024 * MB <= ceiling_bytes(None) <= 16384 * MB
