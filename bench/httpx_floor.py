"""The HTTP client's own cost: CPU per sync Picsart job with bare httpx, nothing of retouch around it.

    python bench/httpx_floor.py [--jobs 1000]

A reference for throughput.py's CPU-per-job figure: the same sandbox (its own process), a multipart
submit plus the CDN download of the result, 16 in flight, one AsyncClient with a small keep-alive pool.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx
from common import cpu_seconds, small_png, start_sandbox


async def run_jobs(base: str, jobs: int) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retouch-floor-") as scratch:
        process, base = start_sandbox({"picsart": {"keys": {"sandbox-key": {"credits": 10**7}}}}, Path(scratch))
        try:
            used = asyncio.run(run_jobs(base, args.jobs))
        finally:
            process.kill()
            process.wait()
    print(
        f"bare httpx, sync Picsart job (submit + CDN download): {used / args.jobs * 1000:.2f} ms CPU per job "
        f"over {args.jobs} jobs"
    )


if __name__ == "__main__":
    main()
