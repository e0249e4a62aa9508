"""Local-provider throughput: N jobs through the real flow; prints jobs/s, CPU per job and peak RSS.

python bench/local_jobs.py [--jobs 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, peak_rss_mb, write_catalog, write_yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    from flows.edit_catalog import edit_catalog

    with tempfile.TemporaryDirectory(prefix="retouch-bench-") as scratch:
        directory = Path(scratch)
        rows = args.jobs // 2
        catalog = write_catalog(directory, rows)
        yaml_config = {
            "catalog": {"uri": str(catalog)},
            "edits": [{"name": "sepia", "provider": "local", "seeds": [1, 2]}],
            "output": {"uri": str(directory / "out")},
        }
        config = write_yaml(directory / "config.yaml", yaml_config)
        warm = write_yaml(directory / "warm.yaml", {**yaml_config, "output": {"uri": str(directory / "warm")}})
        edit_catalog(str(warm), limit=1)  # warm-up: starts Prefect's ephemeral API outside the timing
        started, cpu = time.perf_counter(), cpu_seconds()
        summary = edit_catalog(str(config))
        wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    done = summary.counts.get("succeeded", 0)
    print(f"jobs run:        {summary.to_run} ({done} succeeded)")
    print(f"wall time:       {wall:.2f} s")
    print(f"jobs per second: {summary.to_run / wall:.1f}")
    print(f"CPU per job:     {used / max(1, summary.to_run) * 1000:.2f} ms")
    print(f"peak RSS:        {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
