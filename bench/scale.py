"""Scale: plan and diff a 1,000,000-row × 3-variant catalog, then run 100,000 local jobs.

    python bench/scale.py [--rows 1000000] [--jobs 100000]

Prints, each phase in its own process so peak RSS belongs to that phase alone:
  plan   time and peak RSS to plan every job (targets: <= 60 s, <= 2 GB)
  diff   time and peak RSS to read a results table holding half the jobs and plan against it
  streams  the same catalog with each variant on its own provider, planned in one pass while one stream
         is drained to its end first (the worst case: the other streams' shards are spooled to disk);
         time, peak RSS (target: about the plan's) and the spool's peak size
  run    RSS after 10k and after all jobs (target: within 20%), jobs/s, and jobs/s of a bare Pillow loop
         doing the same edits on the same cores (target ratio >= 0.8)
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml
from common import goal, peak_rss_mb, write_catalog, write_yaml

PROVIDERS = ["local", "pixapi.edits", "fashn.edit"]
VARIANTS = [
    {"name": "sepia", "provider": "local", "prompt": "sepia", "seeds": [1]},
    {"name": "blur", "provider": "local", "prompt": "blur 1", "seeds": [1]},
    {"name": "flip", "provider": "local", "prompt": "mirror", "seeds": [1]},
]
# The same edits, each on its own provider: three streams fed by one planning pass (nothing is sent).
STREAM_VARIANTS = [{**variant, "provider": name} for variant, name in zip(VARIANTS, PROVIDERS, strict=True)]
PROMPT = "sepia, then blur 1"


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * 4096 / 2**20


def phase_plan(config_path: str, with_prior: bool) -> dict:
    from tasks.core.config import load_config
    from tasks.pipeline.shards import Planner, shards_of
    from tasks.storage.fs import Storage
    from tasks.storage.results import PriorWork, prior_work

    config = load_config(config_path)
    started = time.perf_counter()
    prior = prior_work(Storage(config.output.uri)) if with_prior else PriorWork(done=set(), latest={})
    loaded = time.perf_counter() - started
    planner = Planner(config, prior)
    shards = sum(1 for _ in shards_of(planner.jobs(), config.execution.shard_size))
    counts = planner.counts()
    return {
        "seconds": time.perf_counter() - started,
        "read_prior_s": loaded,
        "planned": counts.planned,
        "to_run": counts.to_run,
        "done": counts.already_done,
        "shards": shards,
        "peak_rss_mb": peak_rss_mb(),
    }


def phase_streams(config_path: str, spool: str) -> dict:
    from tasks.core.config import load_config
    from tasks.pipeline.shards import Planner
    from tasks.pipeline.streams import ShardStreams
    from tasks.storage.results import PriorWork

    config = load_config(config_path)
    started = time.perf_counter()
    planner = Planner(config, PriorWork(set(), {}))
    most_shards, most_bytes = 0, 0
    with ShardStreams(planner.jobs(), PROVIDERS, shard_size=config.execution.shard_size, spool_dir=spool) as streams:
        for provider in PROVIDERS:
            while streams.next_shard(provider) is not None:
                pass
            most_shards = max(most_shards, sum(streams.waiting(name)[1] for name in PROVIDERS))
            most_bytes = max(most_bytes, sum(path.stat().st_size for path in Path(spool).rglob("*.spool")))
    return {
        "seconds": time.perf_counter() - started,
        "planned": planner.counts().planned,
        "spooled_shards": most_shards,
        "spool_mb": most_bytes / 2**20,
        "peak_rss_mb": peak_rss_mb(),
    }


def write_half_results(config_path: str) -> int:
    """A results table holding every other job as succeeded (keys from a real plan)."""
    import polars as pl

    from tasks.core.config import load_config
    from tasks.pipeline.shards import Planner
    from tasks.storage.fs import Storage
    from tasks.storage.results import PriorWork

    config = load_config(config_path)
    storage = Storage(config.output.uri)
    columns: dict[str, list] = {"job_key": [], "row_id": [], "variant": [], "seed": []}
    for index, job in enumerate(Planner(config, PriorWork(set(), {})).jobs()):
        if index % 2 == 0:
            for name in columns:
                columns[name].append(getattr(job, name))
    frame = pl.DataFrame(columns).with_columns(
        pl.lit("succeeded").alias("status"), pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("finished_at")
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    storage.write_bytes("results/part-bench.parquet", buffer.getvalue())
    return frame.height


def phase_run(config_path: str, jobs: int) -> dict:
    from flows.edit_catalog import edit_catalog
    from tasks.pipeline import progress

    samples: dict[int, float] = {}
    finished = [0]
    marks = {min(10_000, jobs // 10), jobs}

    def on_job(status: str, images: int) -> None:
        finished[0] += 1
        if finished[0] in marks:
            samples[finished[0]] = current_rss_mb()

    warm = yaml.safe_load(Path(config_path).read_text())
    warm["output"]["uri"] += "-warm"
    edit_catalog(str(write_yaml(Path(config_path).with_name("warm.yaml"), warm)), limit=1)  # Prefect starts here
    run_id = "bench-scale"
    stop = progress.listen(run_id, on_job)
    started = time.perf_counter()
    summary = edit_catalog(config_path, run_id=run_id)
    wall = time.perf_counter() - started
    stop()
    return {
        "seconds": wall,
        "jobs": summary.to_run,
        "jobs_per_s": summary.to_run / wall,
        "succeeded": summary.counts.get("succeeded", 0),
        "rss_at": samples,
        "peak_rss_mb": peak_rss_mb(),
    }


def bare_edit(args: tuple[str, str]) -> int:
    """The same edit as the local provider's prompt, straight in Pillow: decode, sepia, blur, encode, write."""
    from PIL import Image, ImageFilter, ImageOps

    source, target = args
    with Image.open(source) as image:
        gray = ImageOps.grayscale(image.convert("RGB"))
        sepia = ImageOps.colorize(gray, black=(40, 26, 13), white=(255, 240, 192))
        out = sepia.filter(ImageFilter.GaussianBlur(1))
        buffer = io.BytesIO()
        out.save(buffer, format="PNG")
    Path(target).write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def phase_bare(directory: str, jobs: int, workers: int) -> dict:
    sources = sorted(Path(directory, "images").glob("*.png"))
    out = Path(directory, "bare")
    out.mkdir(exist_ok=True)
    work = [(str(sources[i % len(sources)]), str(out / f"{i}.png")) for i in range(jobs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(bare_edit, work, chunksize=64):
            pass
    wall = time.perf_counter() - started
    return {"seconds": wall, "jobs_per_s": jobs / wall, "workers": workers}


def in_subprocess(phase: str, *args: str) -> dict:
    command = [sys.executable, __file__, "--phase", phase, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--image-size", default="64x48", help="WxH of the run phase's images")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="providers.local.options.workers for the run phase (default: unset, retouch's own default: every core)",
    )
    parser.add_argument("--skip-plan", action="store_true", help="only the run and bare phases")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = {
            "plan": lambda: phase_plan(args.config, with_prior=False),
            "diff": lambda: phase_plan(args.config, with_prior=True),
            "half": lambda: {"written": write_half_results(args.config)},
            "streams": lambda: phase_streams(args.config, args.dir),
            "run": lambda: phase_run(args.config, args.jobs),
            "bare": lambda: phase_bare(args.dir, args.jobs, workers=2),
        }[args.phase]()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="retouch-scale-") as scratch:
        directory = Path(scratch)
        if not args.skip_plan:
            plan_and_diff(directory, args.rows)
        size = tuple(int(n) for n in args.image_size.split("x"))
        small = write_catalog(directory / "run", args.jobs, prompt=PROMPT, size=size)  # type: ignore[arg-type]
        run_config = write_yaml(
            directory / "run.yaml",
            {
                "catalog": {"uri": str(small)},
                "edits": [{"name": "v", "provider": "local", "seeds": [1]}],
                # Unset by default: the run phase measures what a user gets without tuning.
                "providers": {} if args.workers is None else {"local": {"options": {"workers": args.workers}}},
                "output": {"uri": str(directory / "run-out")},
                "execution": {"shard_size": 500, "parallel_shards": 2, "concurrency": 8},
            },
        )
        run = in_subprocess("run", "--config", str(run_config), "--jobs", str(args.jobs))
        marks = sorted(int(k) for k in run["rss_at"])
        first, last = run["rss_at"][str(marks[0])], run["rss_at"][str(marks[-1])]
        workers = "default" if args.workers is None else args.workers
        print(
            f"run   {run['jobs']:,} local jobs on {args.image_size} images, workers={workers}: "
            f"{run['seconds']:.1f} s, {run['jobs_per_s']:.0f} jobs/s; "
            f"RSS at {marks[0]:,}: {first:.0f} MB, at {marks[-1]:,}: {last:.0f} MB"
        )
        goal(f"RSS growth from {marks[0]:,} to {marks[-1]:,} jobs, %", 100 * (last - first) / first, 20.0, digits=1)
        bare = in_subprocess("bare", "--dir", str(directory / "run"), "--jobs", str(args.jobs))
        print(f"bare  Pillow loop, {bare['workers']} processes: {bare['jobs_per_s']:.0f} jobs/s")
        goal("local jobs/s ÷ the bare Pillow loop's", run["jobs_per_s"] / bare["jobs_per_s"], 0.8, at_most=False)


def plan_and_diff(directory: Path, rows: int) -> None:
    """Plan every job of a `rows` × 3 catalog, then diff it against a results table holding half."""
    catalog = write_catalog(directory, rows, prompt=PROMPT)
    big = write_yaml(
        directory / "big.yaml",
        {"catalog": {"uri": str(catalog)}, "edits": VARIANTS, "output": {"uri": str(directory / "big-out")}},
    )
    plan = in_subprocess("plan", "--config", str(big))
    print(
        f"plan  {rows:,} rows × 3 variants = {plan['planned']:,} jobs: {plan['seconds']:.1f} s, "
        f"peak RSS {plan['peak_rss_mb']:.0f} MB"
    )
    goal("  plan: seconds", plan["seconds"], 60, digits=1)
    goal("  plan: peak RSS", plan["peak_rss_mb"], 2048, unit=" MB", digits=0)
    half = in_subprocess("half", "--config", str(big))
    diff = in_subprocess("diff", "--config", str(big))
    print(
        f"diff  against {half['written']:,} done jobs: {diff['seconds']:.1f} s "
        f"(reading the table {diff['read_prior_s']:.1f} s), {diff['to_run']:,} to run, "
        f"peak RSS {diff['peak_rss_mb']:.0f} MB"
    )
    goal("  diff: seconds", diff["seconds"], 60, digits=1)
    goal("  diff: peak RSS", diff["peak_rss_mb"], 2048, unit=" MB", digits=0)
    streams_config = write_yaml(
        directory / "streams.yaml",
        {"catalog": {"uri": str(catalog)}, "edits": STREAM_VARIANTS, "output": {"uri": str(directory / "big-out")}},
    )
    (directory / "spool").mkdir()
    streams = in_subprocess("streams", "--config", str(streams_config), "--dir", str(directory / "spool"))
    print(
        f"streams  {rows:,} rows × 3 providers in one pass, the first stream drained before the others: "
        f"{streams['seconds']:.1f} s, peak RSS {streams['peak_rss_mb']:.0f} MB "
        f"(plan's: {plan['peak_rss_mb']:.0f} MB); spool peaked at {streams['spool_mb']:.0f} MB "
        f"({streams['spooled_shards']:,} shards)"
    )


if __name__ == "__main__":
    main()
