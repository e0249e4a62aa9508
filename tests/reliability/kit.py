"""Real parts for the reliability tests: a filesystem that fails, sandbox configs, and the two ledgers to join."""

from __future__ import annotations

import asyncio
import errno
import threading
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import httpx
import polars as pl
from fsspec.implementations.local import LocalFileSystem

from tasks.core.config import PipelineConfig, load_config
from tasks.core.models import EditJob
from tasks.http import LimiterRegistry
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.executor import ShardSummary, run_shard
from tasks.pipeline.plan import plan_jobs
from tests.helpers import make_catalog, write_config

KEYS = {name: "sandbox-key" for name in ("picsart.edit", "picsart.outpaint", "pixapi.edits", "fashn.edit")}
#: Every kind of fault at once, on submits and (5xx/429) on polls: the heaviest mix the sandbox serves
#: while still letting most jobs through (half of all submits draw a fault).
HEAVY_FAULTS = {
    "http_5xx": 0.15,
    "http_429": 0.05,
    "hang": 0.04,
    "malformed": 0.05,
    "truncated": 0.06,
    "job_fail": 0.10,
    "output_404": 0.05,
    # Far above the tests' 4 s client timeout, so that only a hang fault (never a slow, busy machine)
    # leaves a submit unanswered: a slow answer the provider never billed would be over-reported.
    "hang_seconds": 8.0,
    "on_reads": True,
}


class FailingFileSystem(LocalFileSystem):
    """The local filesystem under `failfs://`, whose writes fail with ENOSPC on cue.

    After `after` good writes, `outage` writes fail (a brief outage); then, if `budget` is set, that many
    more succeed and every later one fails (a disk that filled up). Class-level, as fsspec caches instances.
    """

    protocol: ClassVar[tuple[str, ...]] = ("failfs",)  # type: ignore[misc]
    after: ClassVar[int] = 0
    outage: ClassVar[int] = 0
    budget: ClassVar[int | None] = None
    failed: ClassVar[int] = 0
    _lock = threading.Lock()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_mkdir", True)
        super().__init__(*args, **kwargs)

    @classmethod
    def reset(cls, *, budget: int | None = None, outage: int = 0, after: int = 0) -> None:
        with cls._lock:
            cls.budget, cls.outage, cls.after, cls.failed = budget, outage, after, 0

    @classmethod
    def _fails(cls) -> bool:
        with cls._lock:
            if cls.after > 0:
                cls.after -= 1
                return False
            if cls.outage > 0:
                cls.outage -= 1
            elif cls.budget is None:
                return False
            elif cls.budget > 0:
                cls.budget -= 1
                return False
            cls.failed += 1
            return True

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        if self._fails():
            raise OSError(errno.ENOSPC, "No space left on device (failfs)", path)
        super().pipe_file(path, value, mode=mode, **kwargs)


fsspec.register_implementation("failfs", FailingFileSystem, clobber=True)


def sandbox_config(
    directory: Path,
    base_url: str,
    *,
    rows: int = 4,
    variants: tuple[str, ...] = ("edit", "outpaint", "pixapi", "fashn"),
    output: str | None = None,
    provider: dict[str, Any] | None = None,
    **sections: Any,
) -> Path:
    """A config running `variants` over a small catalog against the sandbox at `base_url`; its path."""
    catalog = make_catalog(directory / "catalog", rows=rows)
    every = {
        "api_key": "${RETOUCH_TEST_SANDBOX_KEY:-sandbox-key}",  # through the environment, as a real key would be
        "poll_interval": 0.02,
        "timeout": 5,
        "retry": {"attempts": 6, "base": 0.01, "cap": 0.05},
        "rate_limit": {"requests": 200, "period": 1},
        **(provider or {}),
    }
    edits = {
        "edit": {"name": "edit", "provider": "picsart.edit", "params": {"format": "PNG"}},
        "outpaint": {
            "name": "outpaint",
            "provider": "picsart.outpaint",
            "prompt": "pad 2px",
            "params": {"format": "PNG"},
        },
        "pixapi": {
            "name": "pixapi",
            "provider": "pixapi.edits",
            "model": "gemini-2.5-flash-image",
            "params": {"response_format": "b64_json"},
        },
        "fashn": {"name": "fashn", "provider": "fashn.edit", "params": {"output_format": "png"}},
    }
    paths = {"picsart.edit": "/picsart/v1", "picsart.outpaint": "/picsart/v1", "pixapi.edits": "/pixapi"}
    providers = {name: {**every, "base_url": base_url + path} for name, path in paths.items()}
    providers["fashn.edit"] = {
        **every,
        "base_url": base_url + "/fashn",
        "rate_limit": {"requests": 200, "period": 1, "max_in_flight": 6},  # the sandbox's (and FASHN's) 6
    }
    for name, settings in sections.pop("providers", {}).items():
        providers[name] = {**providers[name], **settings}
    used = {edits[name]["provider"] for name in variants}
    config = {
        "catalog": {"uri": str(catalog), "columns": {"id": "sku", "image": "src", "prompt": "instruction"}},
        "edits": [edits[name] for name in variants],
        "providers": {name: value for name, value in providers.items() if name in used},
        "output": {"uri": output or str(directory / "out"), "spool_dir": str(directory / "spool"),
                   "write_retry": {"attempts": 3, "base": 0.01, "cap": 0.02, "total": 5}},
        "execution": {"checkpoint_seconds": 0.05, "concurrency": 8},
        **sections,
    }  # fmt: skip
    return write_config(directory, config)


def planned(config: PipelineConfig) -> list[EditJob]:
    """Every job the config plans, in catalog order."""
    return [job for batch in iter_catalog(config.catalog) for job in plan_jobs(batch, config)]


def run_jobs(config_path: Path, *, run_id: str, jobs: list[EditJob] | None = None, **options: Any) -> ShardSummary:
    """One shard of the config's jobs (all of them unless given), run for real against the sandbox."""
    config = load_config(config_path)
    todo = planned(config) if jobs is None else jobs
    return asyncio.run(run_shard(todo, config, run_id=run_id, api_keys=KEYS, limiters=LimiterRegistry(), **options))


def bill(base_url: str) -> list[dict[str, Any]]:
    """The sandbox's billing ledger: one entry per standing charge (refunds removed)."""
    return list(httpx.get(f"{base_url}/_sandbox/ledger", timeout=10).json()["entries"])


def billed_twice(base_url: str) -> dict[str, int]:
    """Request ids (= job keys) the sandbox charged more than once."""
    counts = Counter(entry["request_id"] for entry in bill(base_url))
    return {key: n for key, n in counts.items() if n > 1}


def ledger(out: Path) -> pl.DataFrame:
    """retouch's cost ledger (every part under costs/)."""
    parts = [path for path in (out / "costs").glob("*.parquet") if not path.name.startswith(".")]
    if not parts:
        return pl.DataFrame(schema={"job_key": pl.String, "credits": pl.Float64, "billing_risk": pl.Boolean})
    return pl.concat([pl.read_parquet(path) for path in parts], how="diagonal_relaxed")


def results(out: Path) -> pl.DataFrame:
    """retouch's results table (every part under results/)."""
    parts = [path for path in (out / "results").glob("*.parquet") if not path.name.startswith(".")]
    return pl.concat([pl.read_parquet(path) for path in parts], how="diagonal_relaxed")


def join_on_request_id(base_url: str, out: Path) -> dict[str, tuple[float, float]]:
    """Per job key: (credits the sandbox billed, credits retouch's ledger recorded), for every key in either."""
    billed: Counter[str] = Counter()
    for entry in bill(base_url):
        billed[entry["request_id"]] += entry["credits"]
    recorded: Counter[str] = Counter()
    for key, credits in ledger(out).select("job_key", "credits").iter_rows():
        recorded[key] += credits or 0.0
    return {key: (float(billed[key]), float(recorded[key])) for key in set(billed) | set(recorded)}


def reset(base_url: str, faults: dict[str, Any] | None = None) -> None:
    """A fresh sandbox (balances, ledger, jobs) with `faults` applied."""
    httpx.post(f"{base_url}/_sandbox/reset", timeout=10).raise_for_status()
    if faults is not None:
        httpx.put(f"{base_url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()


def shard_in_child(config_path: str, run_id: str) -> None:
    """A child process's whole life: one shard of the config's jobs (the parent SIGKILLs it mid-way)."""
    run_jobs(Path(config_path), run_id=run_id)
