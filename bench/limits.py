"""A wrongly configured limit: the server allows 30% less than retouch is told.

    python bench/limits.py [--told 20] [--rows 900]

The sandbox (its own process, 100 ms latency) limits each provider to 0.7 × TOLD requests/s per key;
retouch is configured with TOLD. The run must finish with every job succeeded, and the share of
requests answered 429 must fall below 2% after the first 30 s (measured on the server, sampled twice
a second). Also prints the steady rate achieved against the server's real limit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import FASHN_EDIT, PICSART_EDIT, PIXAPI_EDITS, StatsSampler, goal, start_sandbox, write_catalog, write_yaml

AREAS = ("picsart", "pixapi", "fashn")


def sandbox_settings(server_rate: float) -> dict[str, Any]:
    common = {
        "latency": 0.1,
        "async_seconds": 0.05,
        "rate_limit": {"per_second": server_rate, "burst": 3},
        "keys": {"sandbox-key": {"credits": 10_000_000}},
    }
    return {"picsart": dict(common), "pixapi": dict(common), "fashn": {**common, "concurrency": 16}}


def pipeline(catalog: Path, output: Path, base: str, told: float) -> dict[str, Any]:
    def provider(path: str, **extra: Any) -> dict[str, Any]:
        limit = {"requests": told, "period": 1, **extra.pop("limit", {})}
        return {
            "base_url": f"{base}{path}",
            "api_key": "${RETOUCH_BENCH_SANDBOX_KEY:-sandbox-key}",
            "timeout": 10,
            "rate_limit": limit,
            "retry": {"attempts": 30, "total": 600},
            **extra,
        }

    return {
        "catalog": {"uri": str(catalog)},
        "edits": [PICSART_EDIT, PIXAPI_EDITS, FASHN_EDIT],
        "providers": {
            "picsart.edit": provider("/picsart/v1", mode="sync"),
            "pixapi.edits": provider("/pixapi", mode="sync"),
            "fashn.edit": provider("/fashn", poll_interval=0.3, limit={"max_in_flight": 16}),
        },
        "output": {"uri": str(output)},
        "execution": {"shard_size": 300, "concurrency": 32},
    }


def late_share(sampler: StatsSampler, area: str, after: float) -> tuple[float, int, int]:
    """429s ÷ requests for `area` from `after` seconds past its first request to its last."""
    points = [
        (t, s.get(area, {}).get("requests", 0), s.get(area, {}).get("rate_limited", 0)) for t, s in sampler.samples
    ]
    started = next(t for t, requests, _ in points if requests > 0)
    late = [p for p in points if p[0] >= started + after]
    if len(late) < 2:
        return 0.0, 0, 0
    requests, limited = late[-1][1] - late[0][1], late[-1][2] - late[0][2]
    return (limited / requests if requests else 0.0), requests, limited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--told", type=float, default=20.0)
    parser.add_argument("--rows", type=int, default=900)
    args = parser.parse_args()
    server_rate = round(args.told * 0.7, 3)
    with tempfile.TemporaryDirectory(prefix="retouch-limits-") as scratch:
        directory = Path(scratch)
        catalog = write_catalog(directory / "catalog", args.rows, prompt="x")
        process, base = start_sandbox(sandbox_settings(server_rate), directory)
        try:
            from flows.edit_catalog import edit_catalog

            edit_catalog(
                str(write_yaml(directory / "warm.yaml", pipeline(catalog, directory / "warm", base, args.told))),
                limit=1,
            )
            httpx.post(f"{base}/_sandbox/reset").raise_for_status()
            config = write_yaml(directory / "run.yaml", pipeline(catalog, directory / "out", base, args.told))
            started = time.perf_counter()
            with StatsSampler(base) as sampler:
                summary = edit_catalog(str(config))
            wall = time.perf_counter() - started
            stats = httpx.get(f"{base}/_sandbox/stats").json()
        finally:
            process.kill()
            process.wait()
    print(
        f"told {args.told:g}/s, server allows {server_rate:g}/s per provider; "
        f"{summary.to_run} jobs in {wall:.0f} s: "
        f"{summary.counts}"
    )
    goal("jobs not succeeded", summary.to_run - summary.counts.get("succeeded", 0), 0, digits=0)
    for area in AREAS:
        share, requests, limited = late_share(sampler, area, after=30)
        total = stats.get(area, {})
        steady = sampler.steady_rate(area)
        print(
            f"  {area:8s} 429s: {total.get('rate_limited', 0)} of {total.get('requests', 0)} requests in all; "
            f"steady {steady:.1f}/s = {steady / server_rate:.2f} of the real limit"
        )
        goal(f"  {area:8s} 429s after the first 30 s ({limited} of {requests}), %", share * 100, 2.0)


if __name__ == "__main__":
    main()
