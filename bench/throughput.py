"""Throughput at the providers' limits: retouch's shards against one Prefect task per job.

    python bench/throughput.py [--rate 25] [--rows 1250] [--skip-peer]

Starts the sandbox in its own process (200 ms latency on every request, tiny images, each provider
limited server-side to RATE requests/s per key) and runs ROWS × 4 variants (one per provider, >= 5,000
jobs) with the same limits configured in retouch. Prints, each next to its goal: per provider the achieved
requests/s over the steady state ÷ the configured limit (goal >= 0.95) and the 429s received (goal 0);
retouch's CPU per job ÷ bare httpx's CPU per job for a sync Picsart job (`httpx_floor.py`, measured in this
run before and after retouch's, the mean of the two; goal <= 1.3×); peak RSS (goal <= 400 MB); then the same
jobs as one Prefect @task per job (.map over a thread pool of the same concurrency) and its CPU per job ÷
retouch's (goal >= 10×).

Picsart edit and outpaint use two keys, each limited to RATE, so the sandbox's `picsart` area carries
2 × RATE. The server enforces RATE over a one-second window (token bucket of RATE). FASHN's in-flight cap
is raised from 6 to 16 on both sides so that the rate, not the cap, binds.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import (
    FASHN_EDIT,
    PICSART_EDIT,
    PICSART_OUTPAINT,
    PIXAPI_EDITS,
    StatsSampler,
    cpu_seconds,
    goal,
    start_sandbox,
    write_catalog,
    write_yaml,
)
from httpx_floor import measure_floor

CONCURRENCY = 32
SHARDS = 2


def sandbox_settings(rate: float) -> dict[str, Any]:
    # R requests/s enforced over a one-second window, as per-second (or per-minute) quotas are; a bucket
    # of 3 at 25/s is a 120 ms window that scheduling jitter in either Python process trips alone.
    limit = {"per_second": rate, "burst": max(1, int(rate))}
    keys = {"sandbox-key": {"credits": 10_000_000}, "outpaint-key": {"credits": 10_000_000}}
    common = {"latency": 0.2, "rate_limit": limit, "async_seconds": 0.05, "keys": keys}
    return {"picsart": dict(common), "pixapi": dict(common), "fashn": {**common, "concurrency": 16}}


def pipeline(catalog: Path, output: Path, base: str, rate: float) -> dict[str, Any]:
    def provider(path: str, key: str = "sandbox-key", **extra: Any) -> dict[str, Any]:
        return {
            "base_url": f"{base}{path}",
            "api_key": "${RETOUCH_BENCH_" + key.upper().replace("-", "_") + ":-" + key + "}",  # no literal-key warning
            "timeout": 10,
            "rate_limit": {"requests": rate, "period": 1, **extra.pop("limit", {})},
            **extra,
        }

    return {
        "catalog": {"uri": str(catalog)},
        "edits": [PICSART_EDIT, PICSART_OUTPAINT, PIXAPI_EDITS, FASHN_EDIT],
        "providers": {
            "picsart.edit": provider("/picsart/v1", mode="sync"),
            "picsart.outpaint": provider("/picsart/v1", "outpaint-key", mode="sync"),
            "pixapi.edits": provider("/pixapi", mode="sync"),
            "fashn.edit": provider("/fashn", poll_interval=0.3, limit={"max_in_flight": 16}),
        },
        "output": {"uri": str(output)},
        "execution": {
            "shard_size": 500,
            "concurrency": CONCURRENCY,
            "parallel_shards": SHARDS,
            "checkpoint_seconds": 5,
        },
    }


def run_retouch(config: Path) -> dict[str, Any]:
    from flows.edit_catalog import edit_catalog

    cpu, started = cpu_seconds(), time.perf_counter()
    summary = edit_catalog(str(config))
    return {"wall": time.perf_counter() - started, "cpu": cpu_seconds() - cpu, "summary": summary}


def run_peer(config: Path) -> dict[str, Any]:
    """The idiomatic pattern: one @task per job, mapped over a thread pool of the same concurrency."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.task_runners import ThreadPoolTaskRunner

    from tasks.core.config import load_config
    from tasks.pipeline.executor import run_shard
    from tasks.pipeline.shards import Planner
    from tasks.storage.results import PriorWork

    loaded = load_config(str(config))
    jobs = list(Planner(loaded, PriorWork(set(), {})).jobs())
    keys = {name: loaded.provider_settings(name).resolve_api_key() for name in loaded.providers}

    @task(cache_policy=NO_CACHE)
    def edit_one(job: Any) -> str:
        summary = asyncio.run(run_shard([job], loaded, run_id="peer", api_keys=keys))
        return next(iter(summary.counts))

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=CONCURRENCY * SHARDS))  # type: ignore[arg-type]
    def peer_flow() -> list[str]:
        return [future.result() for future in edit_one.map(jobs)]

    cpu, started = cpu_seconds(), time.perf_counter()
    statuses = peer_flow()
    return {
        "wall": time.perf_counter() - started,
        "cpu": cpu_seconds() - cpu,
        "jobs": len(statuses),
        "succeeded": statuses.count("succeeded"),
    }


def report_rates(sampler: StatsSampler, rate: float, stats: dict[str, Any], label: str, *, goals: bool) -> None:
    print(f"{label}: achieved requests/s over the steady state ÷ configured limit")
    for area, configured in (("picsart", 2 * rate), ("pixapi", rate), ("fashn", rate)):
        achieved = sampler.steady_rate(area)
        limited = stats.get(area, {}).get("rate_limited", 0)
        if not goals:
            print(f"  {area:8s} {achieved:6.1f} / {configured:5.1f} = {achieved / configured:.3f}   429s: {limited}")
            continue
        shown = f"  {area:8s} rate ÷ limit ({achieved:.1f} / {configured:.1f})"
        goal(shown, achieved / configured, 0.95, at_most=False)
        goal(f"  {area:8s} 429s received", limited, 0, digits=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--rows", type=int, default=1250)
    parser.add_argument("--floor-jobs", type=int, default=1000, help="jobs of each bare-httpx floor measurement")
    parser.add_argument("--skip-peer", action="store_true", help="leave out the one-task-per-job peer (~4 min)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retouch-throughput-") as scratch:
        directory = Path(scratch)
        catalog = write_catalog(directory / "catalog", args.rows, prompt="x")
        process, base = start_sandbox(sandbox_settings(args.rate), directory)
        try:
            warm = write_yaml(directory / "warm.yaml", pipeline(catalog, directory / "warm", base, args.rate))
            from flows.edit_catalog import edit_catalog

            edit_catalog(str(warm), limit=1)  # Prefect's ephemeral API starts outside the timings
            floors = [measure_floor(args.floor_jobs)]
            httpx.post(f"{base}/_sandbox/reset").raise_for_status()
            config = write_yaml(directory / "run.yaml", pipeline(catalog, directory / "out", base, args.rate))
            with StatsSampler(base) as sampler:
                ours = run_retouch(config)
            stats = httpx.get(f"{base}/_sandbox/stats").json()
            floors.append(measure_floor(args.floor_jobs))
            per_job = report_retouch(ours, sampler, stats, args.rate, floors)
            if not args.skip_peer:
                httpx.post(f"{base}/_sandbox/reset").raise_for_status()
                peer_yaml = pipeline(catalog, directory / "peer", base, args.rate)
                peer_config = write_yaml(directory / "peer.yaml", peer_yaml)
                with StatsSampler(base) as peer_sampler:
                    peer = run_peer(peer_config)
                report_peer(peer, peer_sampler, httpx.get(f"{base}/_sandbox/stats").json(), args.rate, ours, per_job)
        finally:
            process.kill()
            process.wait()


def report_retouch(
    ours: dict[str, Any], sampler: StatsSampler, stats: dict[str, Any], rate: float, floors: list[float]
) -> float:
    """Print retouch's figures next to their goals; returns its CPU ms per job."""
    jobs = ours["summary"].to_run
    print(f"retouch: {jobs} jobs ({ours['summary'].counts}) in {ours['wall']:.1f} s")
    report_rates(sampler, rate, stats, "retouch", goals=True)
    per_job = ours["cpu"] / jobs * 1000
    floor = sum(floors) / len(floors)
    each = " and ".join(f"{f:.2f}" for f in floors)
    print(f"  CPU per job: {per_job:.2f} ms; bare httpx (httpx_floor.py, this run): {floor:.2f} ms ({each})")
    goal("  CPU per remote job ÷ httpx's own CPU for a sync job", per_job / floor, 1.3, unit="×")
    goal("  peak RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 400, unit=" MB", digits=0)
    return per_job


def report_peer(
    peer: dict[str, Any],
    sampler: StatsSampler,
    stats: dict[str, Any],
    rate: float,
    ours: dict[str, Any],
    per_job: float,
) -> None:
    print(
        f"peer (one @task per job, .map, {CONCURRENCY * SHARDS} threads): {peer['jobs']} jobs "
        f"({peer['succeeded']} succeeded) in {peer['wall']:.1f} s"
    )
    report_rates(sampler, rate, stats, "peer", goals=False)
    peer_per_job = peer["cpu"] / peer["jobs"] * 1000
    print(f"  CPU per job: {peer_per_job:.2f} ms; wall time peer ÷ retouch {peer['wall'] / ours['wall']:.2f}×")
    ratio = peer_per_job / per_job
    goal("CPU per job, one-Prefect-task-per-job peer ÷ retouch", ratio, 10, at_most=False, unit="×", digits=1)


if __name__ == "__main__":
    main()
