"""Shards on 1, 2 and 4 Dask worker processes: limits held together, and local-provider scaling.

    python bench/distributed.py [--workers 1 2 4] [--rows 300] [--local-rows 400]

Remote: the sandbox (its own process) limits Picsart and Pixapi to R = 10 requests/s per key (a one-second
token bucket, as throughput.py) and FASHN to 6 jobs in flight; retouch is configured with the same limits
and runs on a LocalCluster of N worker processes. Prints, per N, each provider's steady rate ÷ limit
(from the sandbox's ledger of billed submissions) and its 429s, next to their goals. Local: the local engine
on `--local-rows` rows; prints jobs/s and the ratio to 1 process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This file's name is the `distributed` package's: put its folder after site-packages, so that
# `import distributed` finds Dask's and `import common` still finds ours.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [*(entry for entry in sys.path if entry not in ("", _HERE)), _HERE]

import httpx  # noqa: E402
from common import (  # noqa: E402
    FASHN_EDIT,
    PICSART_EDIT,
    PIXAPI_EDITS,
    billed_rate,
    goal,
    start_sandbox,
    write_catalog,
    write_yaml,
)

RATE = 10.0
AREAS = ("picsart", "pixapi", "fashn")


def sandbox_settings() -> dict[str, Any]:
    common = {"latency": 0.05, "async_seconds": 0.3, "rate_limit": {"per_second": RATE, "burst": int(RATE)},
              "keys": {"sandbox-key": {"credits": 10_000_000}}}  # fmt: skip
    return {"picsart": dict(common), "pixapi": dict(common), "fashn": {**common, "concurrency": 6}}


def remote_config(catalog: Path, output: Path, base: str, workers: int) -> dict[str, Any]:
    def provider(path: str, **extra: Any) -> dict[str, Any]:
        limit = {"requests": RATE, "period": 1, **extra.pop("limit", {})}
        return {"base_url": f"{base}{path}", "api_key": "${BENCH_KEY:-sandbox-key}", "rate_limit": limit,
                "retry": {"attempts": 30, "total": 600}, "poll_interval": 0.3, **extra}  # fmt: skip

    return {
        "catalog": {"uri": str(catalog)},
        "edits": [PICSART_EDIT, PIXAPI_EDITS, FASHN_EDIT],
        "providers": {
            "picsart.edit": provider("/picsart/v1", mode="sync"),
            "pixapi.edits": provider("/pixapi", mode="sync"),
            "fashn.edit": provider("/fashn", limit={"max_in_flight": 6}),
        },
        "output": {"uri": str(output)},
        "execution": {"runner": "dask", "dask_workers": workers, "shard_size": 100, "concurrency": 16},
    }


def local_config(catalog: Path, output: Path, workers: int) -> dict[str, Any]:
    return {
        "catalog": {"uri": str(catalog)},
        "edits": [{"name": "local", "provider": "local", "prompt": "sepia, then blur 2"}],
        "output": {"uri": str(output)},
        "execution": {"runner": "dask", "dask_workers": workers, "shard_size": 50, "parallel_shards": 2 * workers},
    }


def run(path: Path) -> tuple[Any, float]:
    from flows.cluster import task_runner_for, workers_reach_api
    from flows.edit_catalog import edit_catalog
    from tasks.core.config import load_config

    config = load_config(str(path))
    flow = edit_catalog.with_options(task_runner=task_runner_for(config.execution, providers=len(config.edits)))
    started = time.perf_counter()
    with workers_reach_api(config.execution):
        summary = flow(str(path))
    return summary, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--local-rows", type=int, default=400)
    args = parser.parse_args()
    local_rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="retouch-distributed-") as scratch:
        directory = Path(scratch)
        catalog = write_catalog(directory / "catalog", args.rows, prompt="x")
        local_catalog = write_catalog(directory / "local", args.local_rows, size=(512, 384))
        process, base = start_sandbox(sandbox_settings(), directory)
        try:
            for workers in args.workers:
                httpx.post(f"{base}/_sandbox/reset").raise_for_status()
                path = write_yaml(directory / f"r{workers}.yaml",
                                  remote_config(catalog, directory / f"out-r{workers}", base, workers))  # fmt: skip
                summary, wall = run(path)
                stats = httpx.get(f"{base}/_sandbox/stats").json()
                print(f"{workers} worker processes, remote: {summary.counts} in {wall:.0f} s")
                for area in AREAS[:2]:
                    steady = billed_rate(base, area)
                    shown = f"  {area:8s} steady rate ÷ limit ({steady:.2f}/s)"
                    goal(shown, steady / RATE, 0.95, at_most=False, digits=3)
                    goal(f"  {area:8s} 429s", stats.get(area, {}).get("rate_limited", 0), 0, digits=0)
                fashn = stats.get("fashn", {}).get("rate_limited", 0)
                goal("  fashn    429s (6 in flight per key)", fashn, 0, digits=0)
                path = write_yaml(directory / f"l{workers}.yaml",
                                  local_config(local_catalog, directory / f"out-l{workers}", workers))  # fmt: skip
                summary, wall = run(path)
                local_rates[workers] = summary.to_run / wall
                ratio = local_rates[workers] / local_rates[args.workers[0]]
                print(f"  local: {summary.to_run} jobs in {wall:.1f} s = {local_rates[workers]:.1f} jobs/s, "
                      f"{ratio:.2f}× {args.workers[0]} process(es), cluster start included")  # fmt: skip
        finally:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
