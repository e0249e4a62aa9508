"""Against what users pick instead: LiteLLM's Router and retouch on the same Pixapi edits at the same limit.

    python bench/peer_litellm.py [--jobs 1500] [--rate 25] [--venv bench/.peer-venv] [--litellm litellm]

The sandbox (its own process, 200 ms latency) limits Pixapi's OpenAI-compatible `/v1/images/edits` to
RATE requests/s per key (a token bucket of RATE: a one-second window). Both sides run JOBS edits of
64×48 PNGs, 32 in flight, told the same rate:
- LiteLLM: a Router with one deployment (`rpm` = RATE × 60, `num_retries` 3), in a subprocess of a
  virtualenv of its own that this script makes and fills with `pip install litellm` (LiteLLM is never a
  dependency of retouch); `litellm_router_jobs.py` is what runs there.
- retouch: `edit_catalog` on a catalog of JOBS rows and one `pixapi.edits` variant, in this process.
Prints for each side the 429s the server answered, the jobs lost (not succeeded), and CPU per job, with
their goals (0 429s, 0 lost, and retouch's CPU per job below LiteLLM's).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, cpu_seconds, goal, start_sandbox, write_catalog, write_yaml

CONCURRENCY = 32
CHILD = Path(__file__).resolve().parent / "litellm_router_jobs.py"


def sandbox_settings(rate: float) -> dict[str, Any]:
    limit = {"per_second": rate, "burst": max(1, int(rate))}
    return {"pixapi": {"latency": 0.2, "rate_limit": limit, "keys": {"sandbox-key": {"credits": 10_000_000}}}}


def pipeline(catalog: Path, output: Path, base: str, rate: float) -> dict[str, Any]:
    return {
        "catalog": {"uri": str(catalog)},
        "edits": [
            {
                "name": "pixapi",
                "provider": "pixapi.edits",
                "model": "gemini-2.5-flash-image",
                "prompt": "invert",
                "params": {"response_format": "b64_json"},
            }
        ],
        "providers": {
            "pixapi.edits": {
                "base_url": f"{base}/pixapi",
                "api_key": "sandbox-key",
                "timeout": 10,
                "mode": "sync",
                "rate_limit": {"requests": rate, "period": 1},
            }
        },
        "output": {"uri": str(output)},
        "execution": {"shard_size": 500, "concurrency": CONCURRENCY, "parallel_shards": 2},
    }


def peer_python(venv: Path, package: str) -> Path:
    """The peer virtualenv's python, made and given `package` on first use.

    Raises:
        SystemExit: pip could not install it (no registry reachable, or the install failed).
    """
    python = venv / "bin" / "python"
    if python.exists() and _has_litellm(python):
        return python
    print(f"making {venv} and installing {package} there (once; LiteLLM is never a dependency of retouch)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", package], capture_output=True, text=True, timeout=1200
    )
    if install.returncode != 0 or not _has_litellm(python):
        tail = "\n".join(install.stderr.strip().splitlines()[-8:])
        raise SystemExit(
            f"cannot compare with LiteLLM: `pip install {package}` into {venv} failed (exit {install.returncode}); "
            f"is the package registry reachable from here?\n{tail}"
        )
    return python


def _has_litellm(python: Path) -> bool:
    probe = subprocess.run([str(python), "-c", "import litellm"], capture_output=True, timeout=300)
    return probe.returncode == 0


def run_litellm(python: Path, base: str, sources: Path, out: Path, jobs: int, rate: float) -> dict[str, Any]:
    command = [str(python), str(CHILD), base, str(sources), str(out), str(jobs), str(rate), str(CONCURRENCY)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the LiteLLM run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def run_retouch(config: Path) -> dict[str, Any]:
    from flows.edit_catalog import edit_catalog

    before, started = cpu_seconds(), time.perf_counter()
    summary = edit_catalog(str(config))
    succeeded = summary.counts.get("succeeded", 0)
    return {
        "succeeded": succeeded,
        "lost": summary.to_run - succeeded,
        "cpu": cpu_seconds() - before,
        "wall": time.perf_counter() - started,
    }


def limited(base: str) -> int:
    stats = httpx.get(f"{base}/_sandbox/stats").json()
    return int(stats.get("pixapi", {}).get("rate_limited", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--venv", type=Path, default=ROOT / "bench" / ".peer-venv")
    parser.add_argument("--litellm", default="litellm", help="the pip requirement for LiteLLM (e.g. litellm==1.110.2)")
    args = parser.parse_args()
    python = peer_python(args.venv, args.litellm)
    with tempfile.TemporaryDirectory(prefix="retouch-peer-litellm-") as scratch:
        directory = Path(scratch)
        catalog = write_catalog(directory / "catalog", args.jobs, prompt="x")
        process, base = start_sandbox(sandbox_settings(args.rate), directory)
        try:
            from flows.edit_catalog import edit_catalog

            def config(name: str) -> Path:
                return write_yaml(directory / f"{name}.yaml", pipeline(catalog, directory / name, base, args.rate))

            edit_catalog(str(config("warm")), limit=1)  # Prefect's ephemeral API starts outside the timings
            httpx.post(f"{base}/_sandbox/reset").raise_for_status()
            sources = directory / "catalog" / "images"
            theirs = run_litellm(python, base, sources, directory / "litellm", args.jobs, args.rate)
            theirs["429s"] = limited(base)
            httpx.post(f"{base}/_sandbox/reset").raise_for_status()
            ours = run_retouch(config("run"))
            ours["429s"] = limited(base)
        finally:
            process.kill()
            process.wait()
    report(args, theirs, ours)


def report(args: argparse.Namespace, theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    print(f"{args.jobs} Pixapi edits at a {args.rate:g}/s limit, {CONCURRENCY} in flight, 200 ms latency")
    for name, side in ((f"LiteLLM {theirs.get('litellm')} Router", theirs), ("retouch", ours)):
        print(f"{name}: {side['succeeded']} succeeded in {side['wall']:.1f} s")
        goal(f"  {name} 429s received", side["429s"], 0, digits=0)
        goal(f"  {name} jobs lost", side["lost"], 0, digits=0)
        print(f"  {name} CPU per job: {side['cpu'] / args.jobs * 1000:.2f} ms")
    if theirs.get("errors"):
        print(f"  LiteLLM's lost jobs ended with: {', '.join(theirs['errors'])}")
    ratio = (theirs["cpu"] / args.jobs) / (ours["cpu"] / args.jobs)
    goal("CPU per job, LiteLLM ÷ retouch", ratio, 1.0, at_most=False, unit="×")


if __name__ == "__main__":
    main()
