"""The HTTP client's own cost: CPU per sync Picsart job with bare httpx, nothing of retouch around it.

    python bench/httpx_floor.py [--jobs 1000]

A reference for throughput.py's CPU-per-job figure (throughput.py measures it again in its own run, with
`measure_floor`): the same sandbox (its own process), a multipart submit plus the CDN download of the
result, 16 in flight, one AsyncClient with a small keep-alive pool, as a user's script would write it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx
from common import cpu_seconds, small_png, start_sandbox

# No latency and no rate limit: the floor is the client's CPU, not a wait.
SANDBOX = {"picsart": {"keys": {"sandbox-key": {"credits": 10**7}}}}


async def run_jobs(base: str, jobs: int) -> float:
    """CPU seconds `jobs` sync Picsart jobs take with bare httpx (after 50 that warm the pool)."""
    png = small_png(1)
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=8)) as client:
        gate = asyncio.Semaphore(16)

        async def one() -> None:
            async with gate:
                reply = await client.post(
                    f"{base}/picsart/v1/painting/edit",
                    headers={"X-Picsart-API-Key": "sandbox-key"},
                    data={"prompt": "sepia", "count": "1"},
                    files={"image": ("a.png", png, "image/png")},
                )
                await client.get(reply.json()["data"][0]["url"])

        await asyncio.gather(*(one() for _ in range(50)))  # warm the pool
        before = cpu_seconds()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return cpu_seconds() - before


def measure_floor(jobs: int = 1000) -> float:
    """CPU milliseconds per job of bare httpx against a sandbox of its own (started and stopped here)."""
    with tempfile.TemporaryDirectory(prefix="retouch-floor-") as scratch:
        process, base = start_sandbox(SANDBOX, Path(scratch))
        try:
            used = asyncio.run(run_jobs(base, jobs))
        finally:
            process.kill()
            process.wait()
    return used / jobs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    floor = measure_floor(args.jobs)
    print(f"bare httpx, sync Picsart job (submit + CDN download): {floor:.2f} ms CPU per job over {args.jobs} jobs")
    print("(a reference, no goal of its own: bench/throughput.py divides retouch's CPU per job by it, goal ≤ 1.3×)")


if __name__ == "__main__":
    main()
