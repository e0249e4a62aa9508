"""An unchanged refresh: the catalog-version check against planning every row again.

    python bench/refresh.py [--rows 1000000]

Prints the time of one planning pass over the catalog (what a refresh would spend finding out that
nothing changed, before any flow overhead) and the time of the check a scheduled run makes instead
(`open_refresh`: the output lease, one fsspec `info` per catalog file, the Parquet footers, the last
manifest), and their ratio. The "last complete run" is a manifest written from the same prepared plan.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import goal, write_catalog, write_yaml

from tasks.core.config import load_config
from tasks.pipeline.manifest import RunTotals, summarize, write_manifest
from tasks.pipeline.prepared import prepare_run
from tasks.pipeline.refresh import open_refresh


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(prefix="retouch-bench-refresh-") as folder:
        base = Path(folder)
        catalog = write_catalog(base, rows)
        raw = {
            "catalog": {"uri": str(catalog)},
            "edits": [{"name": "sepia", "provider": "local", "seeds": [1]}],
            "output": {"uri": str(base / "out")},
        }
        config = load_config(write_yaml(base / "config.yaml", raw))
        started = time.perf_counter()
        prepared = prepare_run(config, {})
        plan_seconds = time.perf_counter() - started
        done = RunTotals(counts={"succeeded": prepared.plan.to_run})
        summary = summarize(
            prepared, run_id="complete", plan=prepared.plan, totals=done, budget_stop=(),
            started_at=datetime.now(UTC), dry_run=False,
        )  # fmt: skip
        write_manifest(prepared.storage, summary)
        started = time.perf_counter()
        unchanged = open_refresh(config, "refresh", wait=0, started_at=datetime.now(UTC))
        check_seconds = time.perf_counter() - started
    assert unchanged is not None and unchanged.unchanged
    print(f"catalog: {rows:,} rows × 1 variant")
    print(f"planning pass (prepare_run): {plan_seconds:.2f} s")
    print(f"unchanged check (open_refresh): {check_seconds * 1000:.1f} ms")
    goal("the unchanged check ÷ a planning pass", check_seconds / plan_seconds, 0.01, digits=4)


if __name__ == "__main__":
    main()
