"""The local engine in worker processes: the same images, rows and scores as in this process, resumable, and a
worker that dies ends its batch's jobs as failed rows, never the run."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image

from flows.edit_catalog import edit_catalog
from tasks.core.config import PipelineConfig, parse_config
from tasks.core.models import EditJob
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.executor import ShardSummary, run_shard
from tasks.pipeline.plan import plan_jobs
from tasks.pipeline.pool import WorkerPools
from tasks.providers.local import LocalProvider
from tests.helpers import make_png, write_config

PROMPTS = ["sepia, then blur 1", "crop 500x500", "inside the mask: grayscale", "rotate 90, then contrast 1.3"]
# Columns a run in worker processes must fill exactly as one in this process (times and run ids aside).
SAME = ["job_key", "output_index", "row_id", "variant", "seed", "status", "error_type", "error_message", "attempts",
        "billing_risk", "width", "height", "format", "bytes", "accepted", "rejected_by", "credits", "cost"]  # fmt: skip
SCORES = ["ssim_outside_mask", "changed", "blank", "clipped", "sharpness", "aspect_error", "dhash"]


def _catalog(directory: Path) -> Path:
    rows = []
    for index, prompt in enumerate(PROMPTS):
        make_png(directory / f"images/{index}.png", size=(64, 48), seed=index)
        rows.append({"id": f"r{index}", "image": f"images/{index}.png", "prompt": prompt, "mask": "images/mask.png"})
    rows.append({"id": "gone", "image": "images/missing.png", "prompt": "sepia", "mask": "images/mask.png"})
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (16, 12, 48, 36))
    mask.save(directory / "images/mask.png")
    pl.DataFrame(rows).write_parquet(directory / "catalog.parquet")
    return directory / "catalog.parquet"


def _config(catalog: Path, output: Path, workers: int, **extra: Any) -> dict[str, Any]:
    return {
        "catalog": {"uri": str(catalog), "columns": {"mask": "mask"}},
        "edits": [
            {"name": "a", "provider": "local", "seeds": [1, 2], "accept": {"changed": ">= 0.05"}},
            {"name": "b", "provider": "local", "prompt": "noise 8", "params": {"format": "jpeg"}, "count": 2},
        ],
        "providers": {"local": {"options": {"workers": workers}}},
        "output": {"uri": str(output)},
        **extra,
    }


def _jobs(config: PipelineConfig) -> list[EditJob]:
    return [job for rows in iter_catalog(config.catalog) for job in plan_jobs(rows, config)]


def _table(output: Path) -> pl.DataFrame:
    return pl.read_parquet(output / "results" / "*.parquet").sort("job_key", "output_index")


def test_worker_processes_write_the_same_images_rows_and_scores_as_this_process(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    tables, images = {}, {}
    for workers in (0, 2):
        config = parse_config(_config(catalog, tmp_path / f"out{workers}", workers))
        summary = asyncio.run(run_shard(_jobs(config), config, run_id=f"w{workers}", api_keys={}))
        assert summary.counts == {"succeeded": 10, "failed": 5}  # 5 rows × (2 seeds + 1 job of 2 outputs)
        tables[workers] = _table(tmp_path / f"out{workers}")
        images[workers] = {
            path.relative_to(tmp_path / f"out{workers}"): path.read_bytes()
            for path in (tmp_path / f"out{workers}" / "images").rglob("*")
            if path.is_file()
        }

    assert tables[2].select(SAME).to_dicts() == tables[0].select(SAME).to_dicts()
    assert images[2] == images[0] and len(images[0]) == 6 + 8  # no temporary file left behind either
    # PNG outputs are scored from the very pixels decoding the file gives back: the same scores. JPEG ones
    # from the engine's pixels before encoding (no decode), which the file's compression has moved.
    png = [table.filter(pl.col("format") == "png") for table in (tables[0], tables[2])]
    assert png[1].select(SCORES).to_dicts() == png[0].select(SCORES).to_dicts()
    jpeg = tables[2].filter(pl.col("format") == "jpeg")
    assert jpeg.height == 8 and jpeg.select(SCORES).null_count().sum_horizontal().item() == 0
    # Which of a row's outputs is "first" (no earlier one to be a duplicate of) depends on finishing order.
    by_row = [table.group_by("row_id", "variant").agg(pl.col("duplicate_distance").sort()) for table in png]
    assert by_row[1].sort("row_id", "variant").to_dicts() == by_row[0].sort("row_id", "variant").to_dicts()
    failed = tables[2].filter(pl.col("status") == "failed")
    assert sorted(failed["error_type"].unique()) == ["InstructionError", "SourceError"]


def test_a_run_in_worker_processes_resumes_like_one_in_this_process(tmp_path: Path, prefect_harness: None) -> None:
    catalog = _catalog(tmp_path)
    path = write_config(tmp_path, _config(catalog, tmp_path / "out", 2))

    first = edit_catalog(str(path))
    again = edit_catalog(str(path))

    assert first.counts == {"succeeded": 10, "failed": 5}
    assert again.to_run == 5  # only the failed jobs are tried again; nothing succeeded is redone
    assert _table(tmp_path / "out").filter(pl.col("status") == "succeeded").height == 6 + 8


def test_a_worker_killed_mid_batch_fails_its_jobs_as_rows_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    noise = np.random.default_rng(3).integers(0, 255, (500, 500, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "images" / "big.png", compress_level=1)
    rows = [{"id": f"r{i}", "image": "images/big.png", "prompt": "noise 6, then blur 3"} for i in range(10)]
    pl.DataFrame(rows).write_parquet(tmp_path / "catalog.parquet")
    raw = _config(tmp_path / "catalog.parquet", tmp_path / "out", 2)
    raw["edits"] = [{"name": "n", "provider": "local"}]
    raw["catalog"].pop("columns")
    config = parse_config(raw)
    pools, done = WorkerPools(), threading.Event()
    outcome: list[ShardSummary | BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(run_shard(_jobs(config), config, run_id="crash", api_keys={}, pools=pools)))
        except BaseException as error:  # shown by the assertion below, not lost in a thread
            outcome.append(error)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    while not pools.pids() and not done.is_set():
        done.wait(0.05)
    killed = pools.pids()[:1]
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert done.wait(300)
    summary = outcome[0]
    assert isinstance(summary, ShardSummary), summary

    table = _table(tmp_path / "out")
    assert killed and table["job_key"].n_unique() == table.height == 10  # every job ended as one row
    failed = table.filter(pl.col("status") == "failed")
    assert failed.height >= 1 and set(failed["error_type"]) == {"ProviderUnavailable"}
    assert all("worker process died" in message for message in failed["error_message"])
    assert summary.counts.get("succeeded", 0) + failed.height == 10
    assert list(tmp_path.rglob("*.tmp")) == []
    # The pool was renewed: the failed jobs run again in this process's next shard.
    retry = [job for job in _jobs(config) if job.job_key in set(failed["job_key"])]
    again = asyncio.run(run_shard(retry, config, run_id="again", api_keys={}, pools=pools))
    assert again.counts == {"succeeded": failed.height}


CORES = os.cpu_count() or 1


@pytest.mark.parametrize(
    ("option", "jobs", "processes"),
    [(0, 250, 0), (1, 250, 0), (3, 250, 3), (3, 2, 3), (None, 250, CORES), (None, None, CORES), (None, 31, 0)],
)
def test_the_default_is_a_process_per_core_for_a_shard_of_many_jobs_and_zero_or_one_edits_here(
    tmp_path: Path, option: int | None, jobs: int | None, processes: int
) -> None:
    raw = _config(tmp_path / "catalog.parquet", tmp_path / "out", 0)
    raw["providers"]["local"]["options"] = {} if option is None else {"workers": option}
    settings = parse_config(raw).provider_settings("local")
    assert LocalProvider.worker_processes(settings, jobs) == (processes if processes > 1 else 0)
