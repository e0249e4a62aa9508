"""Crash: SIGKILL a real `retouch run` against the sandbox at random moments, then check nothing was lost,
duplicated, orphaned or paid for twice beyond what was in flight at the kills.

    python bench/crash.py [--rows 80] [--kills 5] [--seed 7]

The sandbox and every retouch run are separate processes on the loopback interface. The sandbox adds
latency and an async processing time, so async jobs are in flight (submitted, journaled, being polled)
when the kill lands; sync jobs (Picsart outpaint) take a while too. Each run is killed (its whole process
group, SIGKILL) a random moment after it started editing; a last run goes to completion.

In flight at a kill (the figure a double bill is bounded by): taken after the killed process is gone and
the sandbox has finished the requests it had already received, it is
    jobs the sandbox billed (ledger request ids = job keys) − jobs with a durable result row,
split into `journaled` (a `pending/<job_key>.json` entry exists: the next run must poll it, never pay
again) and `unjournaled` (a sync job, an async one accepted but not yet journaled, or any job done but
still in the checkpoint buffer: the next run submits it again, which may bill it a second time).

Printed from the final state (targets in brackets):
  jobs whose (job_key, output_index) has != 1 succeeded row [0]; planned jobs never succeeded [0];
  orphan images: files under images/ no succeeded row points at [0]; stray `.*.tmp` files of killed writes;
  request ids billed more than once [extra charges <= unjournaled in flight, summed over the kills], and how
  many of them were not unjournaled in flight at any kill [0]; journaled jobs billed again after a run
  started with their journal entry [0]; jobs recovered by polling a journaled id; stale journal entries [0];
  runs, kills, wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Set before `common` is imported, so it does not make a Prefect home of its own. One temporary home for
# every run: only the first start pays for creating Prefect's database.
SCRATCH = Path(tempfile.mkdtemp(prefix="retouch-crash-"))
os.environ["PREFECT_HOME"] = str(SCRATCH / "prefect-home")

import httpx  # noqa: E402
import polars as pl  # noqa: E402
from common import ROOT, goal, write_catalog, write_yaml  # noqa: E402

SANDBOX_SETTINGS = {
    provider: {"latency": [0.05, 0.2], "async_seconds": 1.0, "sync_seconds": 0.4}
    for provider in ("picsart", "pixapi", "fashn")
}
SANDBOX_SETTINGS["faults"] = {"seed": 3}  # no faults: every double bill is the crash's doing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pipeline_config(catalog: Path, out: Path, base: str) -> dict:
    provider = {
        "api_key": "${RETOUCH_BENCH_SANDBOX_KEY:-sandbox-key}",
        "poll_interval": 0.25,
        "timeout": 10,
        "retry": {"attempts": 8, "base": 0.1, "cap": 1.0},
    }
    return {
        "catalog": {"uri": str(catalog)},
        "edits": [
            {
                "name": "picsart-edit",
                "provider": "picsart.edit",
                "model": "urn:air:sdxl:model:fluxai:flux_kontext_max-image-to-image@1",
                "params": {"format": "PNG"},
                "seeds": [1],
            },
            {
                "name": "picsart-outpaint",
                "provider": "picsart.outpaint",
                "prompt": "pad 10% mirror",
                "params": {"format": "JPG"},
                "seeds": [1],
            },
            {
                "name": "pixapi",
                "provider": "pixapi.edits",
                "model": "gemini-2.5-flash-image",
                "prompt": "{prompt}, then grayscale",
                "params": {"response_format": "b64_json"},
                "seeds": [1],
            },
            {
                "name": "fashn",
                "provider": "fashn.edit",
                "params": {"resolution": "1k", "output_format": "png"},
                "seeds": [1],
                "count": 2,
            },
        ],
        "providers": {
            "picsart.edit": {
                **provider,
                "base_url": f"{base}/picsart/v1",
                "mode": "async",
                "rate_limit": {"requests": 40, "period": 1},
            },
            "picsart.outpaint": {
                **provider,
                "base_url": f"{base}/picsart/v1",
                "mode": "sync",
                "rate_limit": {"requests": 40, "period": 1},
            },
            "pixapi.edits": {
                **provider,
                "base_url": f"{base}/pixapi",
                "mode": "async",
                "rate_limit": {"requests": 40, "period": 1},
            },
            "fashn.edit": {
                **provider,
                "base_url": f"{base}/fashn",
                "rate_limit": {"requests": 40, "period": 1, "max_in_flight": 6},
            },
        },
        "output": {"uri": str(out)},
        "execution": {
            "shard_size": 40,
            "concurrency": 16,
            "parallel_shards": 2,
            "checkpoint_seconds": 0.5,
            "checkpoint_rows": 50,
        },
    }


def planned_keys(config_path: Path) -> dict[str, str]:
    from tasks.core.config import load_config
    from tasks.pipeline.shards import Planner
    from tasks.storage.results import PriorWork

    config = load_config(str(config_path))
    return {job.job_key: job.variant for job in Planner(config, PriorWork(set(), {})).jobs()}


def last_manifest(out: Path) -> Any:
    """The newest run's manifest under `out` (a RunSummary), or None."""
    from tasks.pipeline.manifest import latest_run_id, read_manifest
    from tasks.storage.fs import Storage

    storage = Storage(str(out))
    run_id = latest_run_id(storage)
    return read_manifest(storage, run_id) if run_id else None


def read_results(out: Path) -> pl.DataFrame:
    """Every durable part (a part is renamed into place whole, so a listed part is complete)."""
    parts = sorted(p for p in (out / "results").glob("*.parquet") if not p.name.startswith("."))
    if not parts:
        return pl.DataFrame(
            schema={
                "job_key": pl.String,
                "output_index": pl.Int32,
                "status": pl.String,
                "output_uri": pl.String,
                "run_id": pl.String,
            }
        )
    frames = [pl.read_parquet(p, columns=["job_key", "output_index", "status", "output_uri", "run_id"]) for p in parts]
    return pl.concat(frames, how="vertical_relaxed")


def pending_keys(out: Path) -> set[str]:
    return {p.stem for p in (out / "pending").glob("*.json") if not p.name.startswith(".")}


def ledger(client: httpx.Client) -> list[dict]:
    return list(client.get("/_sandbox/ledger").raise_for_status().json()["entries"])


def spawn(arguments: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`python -m flows.cli ARGUMENTS` in its own session (so its whole group can be killed), logging to `log`."""
    with open(log, "wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *arguments],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def wait_for_sandbox(client: httpx.Client, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {process.returncode}")
        try:
            client.get("/_sandbox/stats").raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the sandbox did not answer")


def wait_until_editing(
    process: subprocess.Popen, client: httpx.Client, out: Path, billed: int, parts: int, timeout: float
) -> bool:
    """True once this run sent a billed submit or wrote a result part; False if it ended or timed out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if len(ledger(client)) > billed or len(list((out / "results").glob("*.parquet"))) > parts:
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=80)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, outputs) and print it")
    parser.add_argument(
        "--delay",
        type=float,
        nargs=2,
        default=(0.5, 3.5),
        metavar=("MIN", "MAX"),
        help="seconds between a run starting to edit and its kill",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    processes: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "PREFECT_HOME": os.environ["PREFECT_HOME"],
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # the first start migrates a fresh database; on a busy 2-core machine that can pass Prefect's 20 s
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PREFECT_API_URL", None)
    logs = SCRATCH / "logs"
    logs.mkdir()
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = write_yaml(SCRATCH / "sandbox-settings.yaml", SANDBOX_SETTINGS)
        sandbox = spawn(["sandbox", "--port", str(port), "--settings", str(settings)], logs / "sandbox.out", env)
        processes.append(sandbox)
        client = httpx.Client(base_url=base, timeout=10, trust_env=False)
        wait_for_sandbox(client, sandbox)

        catalog = write_catalog(SCRATCH / "catalog", args.rows, distinct_images=min(args.rows, 50))
        out = SCRATCH / "out"
        config = write_yaml(SCRATCH / "crash.yaml", pipeline_config(catalog, out, base))
        planned = planned_keys(config)

        kills: list[dict] = []
        # Each run's start: (time, journal entries of unfinished jobs, entries of jobs already durable).
        restarts: list[tuple[float, set[str], set[str]]] = []
        runs = 0
        final_rc = None
        for attempt in range(args.kills + 1):
            last = attempt == args.kills
            billed_before = len(ledger(client))
            parts_before = len(list((out / "results").glob("*.parquet")))
            journal, durable_keys = pending_keys(out), set(read_results(out)["job_key"].to_list())
            restarts.append((time.time(), journal - durable_keys, journal & durable_keys))
            run_started = time.perf_counter()
            process = spawn(["run", str(config)], logs / f"run-{attempt}.out", env)
            processes.append(process)
            runs += 1
            if last:
                final_rc = process.wait(timeout=150)
                print(f"run {runs}: ran to completion in {time.perf_counter() - run_started:.1f} s, exit {final_rc}")
                break
            if not wait_until_editing(process, client, out, billed_before, parts_before, timeout=90):
                print(f"run {runs}: ended (exit {process.poll()}) before it started editing; no kill")
                kill_group(process)
                continue
            delay = rng.uniform(*args.delay)
            time.sleep(delay)
            if process.poll() is not None:
                print(f"run {runs}: finished (exit {process.returncode}) before its kill at +{delay:.2f} s")
                continue
            kill_group(process)
            killed_after = time.perf_counter() - run_started
            # Requests the sandbox already holds finish (latency <= 0.2 s, then the charge) before we count.
            time.sleep(1.0)
            billed = {entry["request_id"] for entry in ledger(client)}
            durable = read_results(out)
            in_flight = billed - set(durable.get_column("job_key").to_list())
            journaled = pending_keys(out)
            kills.append(
                {
                    "in_flight": in_flight,
                    "journaled": in_flight & journaled,
                    "unjournaled": in_flight - journaled,
                    "done": durable.filter(pl.col("status") == "succeeded")["job_key"].n_unique(),
                }
            )
            k = kills[-1]
            print(
                f"run {runs}: killed {delay:.2f} s into editing ({killed_after:.1f} s after start); "
                f"{k['done']}/{len(planned)} jobs durable; in flight {len(k['in_flight'])} "
                f"({len(k['journaled'])} journaled, {len(k['unjournaled'])} not: "
                f"{dict(Counter(planned.get(key) for key in k['unjournaled']))})"
            )

        wall = time.perf_counter() - started
        # ---- the final state -------------------------------------------------------------------------
        results = read_results(out)
        succeeded = results.filter(pl.col("status") == "succeeded")
        per_output = succeeded.group_by("job_key", "output_index").len()
        duplicated = per_output.filter(pl.col("len") != 1)["job_key"].n_unique()
        done = set(succeeded["job_key"].to_list())
        never = set(planned) - done
        referenced = {os.path.realpath(uri) for uri in succeeded["output_uri"].drop_nulls().to_list()}
        images = [p for p in (out / "images").rglob("*") if p.is_file()]
        orphans = [p for p in images if not p.name.startswith(".") and os.path.realpath(p) not in referenced]
        strays = list(out.rglob(".*.tmp"))
        missing = [uri for uri in referenced if not os.path.exists(uri)]
        entries = ledger(client)
        per_request = Counter(entry["request_id"] for entry in entries)
        twice = {key: n for key, n in per_request.items() if n > 1}
        extra = sum(twice.values()) - len(twice)
        unjournaled_any = set().union(*(k["unjournaled"] for k in kills))
        unexplained = set(twice) - unjournaled_any
        # A job journaled when a run started must be polled by that run and every later one, never paid for again.
        first_journaled: dict[str, float] = {}
        for started_at, keys, _ in restarts:
            for key in keys:
                first_journaled.setdefault(key, started_at)
        rebilled = {
            e["request_id"]
            for e in entries
            if e["request_id"] in first_journaled and e["time"] >= first_journaled[e["request_id"]]
        }
        recovered = {key for key in first_journaled if key in done and key not in rebilled}
        stale = pending_keys(out)
        unknown_ids = set(per_request) - set(planned)
        in_flight_sum = sum(len(k["in_flight"]) for k in kills)
        journaled_sum = sum(len(k["journaled"]) for k in kills)
        unjournaled_sum = sum(len(k["unjournaled"]) for k in kills)
        statuses = dict(Counter(results["status"].to_list()))
        final = last_manifest(out)

        print()
        print(
            f"jobs planned {len(planned)} ({args.rows} rows × 4 variants, fashn count 2); result rows by status "
            f"{statuses}; the final run: "
            + (f"{final.already_done} already done, {final.to_run} to run, {final.counts}" if final else "no manifest")
        )
        goal("jobs with a (job_key, output_index) != 1 succeeded row", duplicated, 0, digits=0)
        goal("planned jobs that never succeeded", len(never), 0, digits=0)
        goal(f"orphan images (of {len(images)} files under images/)", len(orphans), 0, digits=0)
        print(f"stray temp files: {len(strays)}; succeeded rows pointing at a missing file: {len(missing)}")
        print(
            f"in flight at the {len(kills)} kills: {in_flight_sum} = {journaled_sum} journaled + "
            f"{unjournaled_sum} unjournaled (sync, not yet journaled, or done but not yet checkpointed)"
        )
        by_variant = dict(Counter(planned.get(k) for k in twice))
        print(f"request ids billed more than once: {by_variant}, {extra} extra charges")
        goal("  jobs billed twice, ≤ those unjournaled in flight at the kills", len(twice), unjournaled_sum, digits=0)
        goal("  of them not in flight unjournaled at a kill", len(unexplained), 0, digits=0)
        goal("journaled jobs billed again after a restart", len(rebilled), 0, digits=0)
        goal("charges for request ids never planned", len(unknown_ids), 0, digits=0)
        print(
            f"jobs recovered by polling a journaled id: {len(recovered)} of {len(first_journaled)} journaled "
            f"(journal entries of unfinished jobs at each restart: {[len(keys) for _, keys, _ in restarts[1:]]})"
        )
        print(f"stale journal entries at each restart: {[len(keys) for _, _, keys in restarts[1:]]}")
        goal("stale journal entries (their job's result already durable) left at the end", len(stale), 0, digits=0)
        print(
            f"sandbox billed {sum(e['credits'] for e in entries)} credits in {len(entries)} charges "
            f"for {len(per_request)} jobs"
        )
        print(f"runs {runs}, kills {len(kills)}, final run exit {final_rc}, wall time {wall:.1f} s")
        if final_rc != 0:
            print(f"the final run failed; its log: {logs / f'run-{args.kills}.out'}")
            print((logs / f"run-{args.kills}.out").read_text()[-3000:])
    except Exception:
        if processes and processes[0].poll() is not None:
            print(
                f"the sandbox exited with {processes[0].returncode}; its log ends:\n"
                + (logs / "sandbox.out").read_text(errors="replace")[-3000:]
            )
        raise
    finally:
        for process in reversed(processes):
            kill_group(process)
        if args.keep:
            print(f"kept {SCRATCH}")
        else:
            import shutil

            shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
