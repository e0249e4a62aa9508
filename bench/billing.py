"""Paying twice, measured: a storage failure, a sync-mode crash, and heavy faults, each against the sandbox.

    python bench/billing.py storage [--rows 60] [--tmpfs-kb 600]
    python bench/billing.py crash [--rows 200] [--trials 3]
    python bench/billing.py faults [--rows 40] [--seed 5]

Every retouch run is a real `retouch run` process, the sandbox another, both on loopback.

- storage: the output folder is a small tmpfs that fills up mid-run (root may mount one; the scenario says so
  and stops if it cannot). The tmpfs is then enlarged and the same config run again. Printed: request ids
  the sandbox billed more than once (target 0), extra charges, stray `.tmp` files, the sandbox's credits
  against `costs/`, exit codes.
- crash: 200 sync Picsart outpaint jobs; SIGKILL of the run's process group 0.5-2.5 s into editing, then a
  run to completion; per trial, request ids billed more than once (target 0) and jobs held as unknown.
- faults: all four providers under the sandbox's heaviest fault mix (`HEAVY`); the sandbox's bill joined with
  `costs/*.parquet` on the request id (= job key): jobs whose credits differ (target 0), totals.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from common import ROOT, goal, start_sandbox, write_catalog, write_yaml

#: Every fault kind at once; 50% of submits draw one, and reads (polls) draw 5xx/429 at the same rates.
HEAVY = {
    "seed": 5,
    "http_5xx": 0.15,
    "http_429": 0.05,
    "hang": 0.04,
    "malformed": 0.05,
    "truncated": 0.06,
    "job_fail": 0.10,
    "output_404": 0.05,
    "hang_seconds": 3.0,
    "on_reads": True,
}


def env() -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="retouch-billing-prefect-"))
    values = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    values.pop("PREFECT_API_URL", None)
    return values


def spawn(config: Path, log: Path, environment: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", str(config)],
            cwd=ROOT,
            env=environment,
            start_new_session=True,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[Any]) -> None:
    process.kill()
    process.wait()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def provider(base: str, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": f"{base}{path}",
        "api_key": "${RETOUCH_BENCH_SANDBOX_KEY:-sandbox-key}",
        "poll_interval": 0.1,
        "timeout": 10,  # a saturated machine must not turn slow replies into unknown outcomes
        "retry": {"attempts": 6, "base": 0.05, "cap": 0.5},
        "rate_limit": {"requests": 60, "period": 1},
        **extra,
    }


def four_providers(catalog: Path, out: Path, base: str) -> dict[str, Any]:
    return {
        "catalog": {"uri": str(catalog)},
        "edits": [
            {"name": "edit", "provider": "picsart.edit", "prompt": "sepia", "params": {"format": "PNG"}},
            {"name": "outpaint", "provider": "picsart.outpaint", "prompt": "pad 2px", "params": {"format": "PNG"}},
            {
                "name": "pixapi",
                "provider": "pixapi.edits",
                "model": "gemini-2.5-flash-image",
                "prompt": "invert",
                "params": {"response_format": "b64_json"},
            },
            {"name": "fashn", "provider": "fashn.edit", "prompt": "mirror", "params": {"output_format": "png"}},
        ],
        "providers": {
            "picsart.edit": provider(base, "/picsart/v1", mode="async"),
            "picsart.outpaint": provider(base, "/picsart/v1", mode="sync"),
            "pixapi.edits": provider(base, "/pixapi", mode="async"),
            "fashn.edit": provider(base, "/fashn", rate_limit={"requests": 60, "period": 1, "max_in_flight": 6}),
        },
        "output": {"uri": str(out)},
        "execution": {"shard_size": 40, "concurrency": 16, "checkpoint_seconds": 0.5},
    }


def ledger(base: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{base}/_sandbox/ledger", timeout=10).json()["entries"])


def billed_twice(entries: list[dict[str, Any]]) -> tuple[int, int]:
    counts = Counter(entry["request_id"] for entry in entries)
    twice = {key: n for key, n in counts.items() if n > 1}
    return len(twice), sum(twice.values()) - len(twice)


def recorded(out: Path) -> pl.DataFrame:
    parts = [p for p in (out / "costs").glob("*.parquet") if not p.name.startswith(".")]
    if not parts:
        return pl.DataFrame({"job_key": [], "credits": []}, schema={"job_key": pl.String, "credits": pl.Float64})
    return pl.concat([pl.read_parquet(p, columns=["job_key", "credits"]) for p in parts])


def statuses(out: Path) -> dict[str, int]:
    parts = [p for p in (out / "results").glob("*.parquet") if not p.name.startswith(".")]
    if not parts:
        return {}
    frame = pl.concat([pl.read_parquet(p, columns=["job_key", "status"]) for p in parts])
    latest = frame.unique(subset=["job_key"], keep="last")
    return dict(Counter(latest["status"].to_list()))


def storage(args: argparse.Namespace, scratch: Path, environment: dict[str, str]) -> None:
    sandbox_settings = {
        name: {"latency": [0.02, 0.05], "async_seconds": 0.3, "sync_seconds": 0.1}
        for name in ("picsart", "pixapi", "fashn")
    }
    sandbox, base = start_sandbox(sandbox_settings, scratch)
    mount = scratch / "out"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.tmpfs_kb}k", "tmpfs", str(mount)], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        stop(sandbox)
        raise SystemExit(f"cannot mount a tmpfs ({error}); this scenario needs root") from None
    try:
        catalog = write_catalog(scratch / "catalog", args.rows, distinct_images=min(args.rows, 50))
        config = write_yaml(scratch / "storage.yaml", four_providers(catalog, mount, base))
        first = spawn(config, scratch / "run-1.log", environment)
        first_rc = first.wait(timeout=600)
        after_first = ledger(base)
        strays = len(list(mount.rglob(".*.tmp")))
        subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], check=True)
        second = spawn(config, scratch / "run-2.log", environment)
        second_rc = second.wait(timeout=600)
        entries = ledger(base)
        twice, extra = billed_twice(entries)
        first_twice, _ = billed_twice(after_first)
        costs = recorded(mount)
        print(f"storage: {args.rows} rows x 4 providers = {args.rows * 4} jobs, output on a {args.tmpfs_kb} KB tmpfs")
        print(f"  run 1 (disk fills): exit {first_rc}; jobs billed twice {first_twice}; stray .tmp files {strays}")
        print(f"  run 2 (disk enlarged): exit {second_rc}; latest status per job {statuses(mount)}")
        goal(f"  jobs billed more than once after both runs ({extra} extra charges)", twice, 0, digits=0)
        goal("  stray .tmp files after run 1", strays, 0, digits=0)
        print(
            f"  sandbox billed {sum(e['credits'] for e in entries)} credits for {len(entries)} charges; "
            f"costs/ records {costs['credits'].sum():g} in {costs.height} rows"
        )
        print(f"  last lines of run 1: {(scratch / 'run-1.log').read_text(errors='replace')[-600:]!r}")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        stop(sandbox)


def crash(args: argparse.Namespace, scratch: Path, environment: dict[str, str]) -> None:
    rng = random.Random(args.seed)
    timing = {"latency": [0.05, 0.2], "sync_seconds": 0.4, "async_seconds": 1.0}
    settings = {name: dict(timing) for name in ("picsart", "pixapi", "fashn")}
    for trial in range(args.trials):
        directory = scratch / f"trial-{trial}"
        directory.mkdir()
        sandbox, base = start_sandbox(settings, directory)
        try:
            catalog = write_catalog(directory / "catalog", args.rows, distinct_images=min(args.rows, 50))
            out = directory / "out"
            config = four_providers(catalog, out, base)
            config["edits"] = [config["edits"][1]]  # Picsart outpaint only, in sync mode
            config["execution"] = {"shard_size": 50, "concurrency": 16, "parallel_shards": 2, "checkpoint_seconds": 0.5}
            path = write_yaml(directory / "crash.yaml", config)
            process = spawn(path, directory / "run-1.log", environment)
            deadline = time.monotonic() + 600  # Prefect's first start on a busy machine can take minutes
            while time.monotonic() < deadline and process.poll() is None and not ledger(base):
                time.sleep(0.05)
            if not ledger(base):
                print(f"crash trial {trial}: the run never started editing (exit {process.poll()}); no kill")
                continue
            delay = rng.uniform(0.5, 2.5)
            time.sleep(delay)
            in_flight_run = process.poll() is None
            kill_group(process)
            time.sleep(1.0)
            at_kill = len(ledger(base))
            rerun = spawn(path, directory / "run-2.log", environment)
            rc = rerun.wait(timeout=600)
            entries = ledger(base)
            twice, extra = billed_twice(entries)
            print(
                f"crash trial {trial}: killed {delay:.2f} s into editing (still running: {in_flight_run}), "
                f"{at_kill} charges at the kill; re-run exit {rc}; latest status per job {statuses(out)}"
            )
            goal(f"  crash trial {trial}: jobs billed twice ({extra} extra charges)", twice, 0, digits=0)
        finally:
            stop(sandbox)


def faults(args: argparse.Namespace, scratch: Path, environment: dict[str, str]) -> None:
    settings: dict[str, Any] = {
        name: {"latency": [0.01, 0.03], "async_seconds": 0.2, "sync_seconds": 0.05}
        for name in ("picsart", "pixapi", "fashn")
    }
    settings["faults"] = {**HEAVY, "seed": args.seed}
    sandbox, base = start_sandbox(settings, scratch)
    try:
        catalog = write_catalog(scratch / "catalog", args.rows, distinct_images=min(args.rows, 50))
        out = scratch / "out"
        path = write_yaml(scratch / "faults.yaml", four_providers(catalog, out, base))
        rc = spawn(path, scratch / "run.log", environment).wait(timeout=900)
        entries = ledger(base)
        bill = Counter[str]()
        for entry in entries:
            bill[entry["request_id"]] += entry["credits"]
        costs = recorded(out)
        ours = Counter[str]()
        for key, credits in costs.iter_rows():
            ours[key] += credits or 0.0
        differ = {key for key in set(bill) | set(ours) if abs(bill[key] - ours[key]) > 1e-9}
        twice, _ = billed_twice(entries)
        print(f"faults: {args.rows} rows x 4 providers, heavy mix {HEAVY}; run exit {rc}")
        print(f"  latest status per job {statuses(out)}")
        print(f"  sandbox bill {sum(bill.values()):g} credits; costs/ {sum(ours.values()):g} credits")
        goal("  jobs whose recorded credits differ from the bill", len(differ), 0, digits=0)
        goal("  jobs billed twice", twice, 0, digits=0)
    finally:
        stop(sandbox)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["storage", "crash", "faults"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--tmpfs-kb", type=int, default=600)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    args.rows = args.rows or {"storage": 60, "crash": 200, "faults": 40}[args.scenario]
    scratch = Path(tempfile.mkdtemp(prefix="retouch-billing-"))
    environment = env()
    try:
        {"storage": storage, "crash": crash, "faults": faults}[args.scenario](args, scratch, environment)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(environment["PREFECT_HOME"], ignore_errors=True)


if __name__ == "__main__":
    main()
