"""Local-provider throughput against a bare Pillow loop doing the same edit, measured in the same run.

python bench/local_jobs.py [--small-jobs 8000] [--large-jobs 2000] [--only 64x48|768x512]

For 64×48 thumbnails and 768×512 images, each with the default settings and with `options.workers: 2`:
N jobs ("sepia, then blur 1", PNG in, PNG out) through the real flow, then the same N edits in a bare
Pillow loop on as many processes as the machine has cores (decode, sepia, blur, encode, write the file
under a fresh name). Prints jobs/s of both, their ratio next to the goal, and the flow's CPU per job and
peak RSS. Prefect's ephemeral API is started before any timing; each flow run writes a fresh output.uri.

Both counts are long enough that a run's fixed costs (Prefect's flow start, the report page, its charts and
contact sheet: 1-1.5 s a run) weigh little, as on a catalog: 480 large jobs ran ~9 s, and the fixed costs
took ~20% of it (3.5-4.6 ms of the main process's CPU per job); 2,000 measure the per-job cost.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from common import cpu_seconds, peak_rss_mb, write_catalog, write_yaml

PROMPT = "sepia, then blur 1"
# The local engine's sepia (tasks/imaging/color.py) as Pillow's own colour matrix.
SEPIA = (0.393, 0.769, 0.189, 0, 0.349, 0.686, 0.168, 0, 0.272, 0.534, 0.131, 0)
GOALS = {("64x48", "default"): 0.8, ("768x512", "default"): 0.9, ("768x512", "workers: 2"): 0.9}
SETTINGS: dict[str, dict[str, Any]] = {"default": {}, "workers: 2": {"local": {"options": {"workers": 2}}}}


def bare_edit(paths: tuple[str, str]) -> int:
    """What a plain Pillow script does for one job: read, decode, sepia, blur, encode PNG, write."""
    from PIL import Image, ImageFilter

    source, target = paths
    with Image.open(source) as image:
        edited = image.convert("RGB").convert("RGB", SEPIA).filter(ImageFilter.GaussianBlur(1))
        buffer = io.BytesIO()
        edited.save(buffer, format="PNG")
    Path(target).write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def bare_loop(directory: Path, jobs: int, workers: int) -> float:
    """Jobs per second of the bare loop over the catalog's images, `workers` processes."""
    sources = sorted((directory / "images").glob("*.png"))
    out = directory / "bare"
    out.mkdir(exist_ok=True)
    work = [(str(sources[i % len(sources)]), str(out / f"{i}.png")) for i in range(jobs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(bare_edit, work, chunksize=max(1, jobs // (workers * 16))):
            pass
    return jobs / (time.perf_counter() - started)


def flow_run(directory: Path, providers: dict[str, Any], name: str) -> tuple[float, float, int]:
    """(jobs/s, CPU ms per job in this process, succeeded) of one run over the catalog in `directory`."""
    from flows.edit_catalog import edit_catalog

    config = write_yaml(
        directory / f"{name}.yaml",
        {
            "catalog": {"uri": str(directory / "catalog.parquet")},
            "edits": [{"name": "sepia", "provider": "local", "seeds": [1, 2]}],
            "providers": providers,
            "output": {"uri": str(directory / f"out-{name}")},
        },
    )
    started, cpu = time.perf_counter(), cpu_seconds()
    summary = edit_catalog(str(config))
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    return summary.to_run / wall, used / max(1, summary.to_run) * 1000, summary.counts.get("succeeded", 0)


def warm_up(scratch: Path) -> None:
    """Start Prefect's ephemeral API (and import everything) outside the timings."""
    from flows.edit_catalog import edit_catalog

    directory = scratch / "warm"
    catalog = write_catalog(directory, 2, distinct_images=2, prompt=PROMPT)
    config = {"catalog": {"uri": str(catalog)}, "edits": [{"name": "w", "provider": "local"}]}
    edit_catalog(str(write_yaml(directory / "warm.yaml", {**config, "output": {"uri": str(directory / "out")}})))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-jobs", type=int, default=8000, help="jobs on 64x48 images")
    parser.add_argument("--large-jobs", type=int, default=2000, help="jobs on 768x512 images")
    parser.add_argument("--only", choices=("64x48", "768x512"), help="one image size only")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    sizes = {"64x48": ((64, 48), args.small_jobs), "768x512": ((768, 512), args.large_jobs)}
    with tempfile.TemporaryDirectory(prefix="retouch-bench-") as scratch:
        warm_up(Path(scratch))
        print(f"{'images':<8} {'settings':<11} {'jobs':>6} {'retouch/s':>10} {'bare/s':>8} {'ratio':>6} {'goal':>6}  "
              "CPU/job (main process)")  # fmt: skip
        for label, (size, jobs) in sizes.items():
            if args.only and label != args.only:
                continue
            directory = Path(scratch) / label
            write_catalog(directory, jobs // 2, prompt=PROMPT, size=size)
            for setting, providers in SETTINGS.items():
                rate, cpu_ms, done = flow_run(directory, providers, setting.replace(": ", ""))
                bare = bare_loop(directory, jobs, cores)
                goal = GOALS.get((label, setting))
                goal_text = f">= {goal}" if goal else "-"
                failed = "" if done == jobs else f"  ({jobs - done} not succeeded!)"
                print(f"{label:<8} {setting:<11} {jobs:>6} {rate:>10.0f} {bare:>8.0f} {rate / bare:>6.2f} "
                      f"{goal_text:>6}  {cpu_ms:.2f} ms{failed}")  # fmt: skip
    print(f"bare loop: {cores} processes (the machine's cores); peak RSS of the flow's process {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
