"""Every path under `output.uri`, in one place: the output folder's layout is read here and nowhere else.

```
images/<variant>/<job_key[:2]>/<job_key>_<i>.<ext>   an output image, written before its result row
results/part-<run_id>-<id>.parquet                   result rows (one per output image, or per job)
costs/part-<run_id>-<id>.parquet                     cost ledger rows (one per billed request)
pending/<job_key>.json                               the journal of a job sent but not yet durable
runs/<run_id>.json                                   a run's manifest
reports/<run_id>/…, reports/monthly/…                reports; forecasts at reports/<id>/forecast.parquet
reports/<run_id>/schedule-forecast.{md,parquet}      a scheduled run's projection of its schedule's spend
lease.json                                           the one writer's lease (`retouch compact` refuses while it exists)
.retouch-probe-<id>                                  written and removed at once: is the output writable?
```
Parts that `retouch compact` writes are named `part-compacted-<id>.parquet`.
Paths are relative to the output root and always use `/`, whatever the filesystem.
"""

from __future__ import annotations

import uuid

__all__ = [
    "COMPACTED_RUN_ID",
    "IMAGES_DIR",
    "LEASE_PATH",
    "LEDGER_DIR",
    "MONTHLY_REPORT_DIR",
    "PART_SUFFIX",
    "PENDING_DIR",
    "REPORTS_DIR",
    "RESULTS_DIR",
    "RUNS_DIR",
    "forecast_path",
    "image_path",
    "ledger_part_path",
    "manifest_path",
    "part_path",
    "pending_path",
    "probe_path",
    "report_dir",
    "results_part_path",
    "run_id_of_manifest",
    "schedule_forecast_path",
]

IMAGES_DIR = "images"
RESULTS_DIR = "results"
LEDGER_DIR = "costs"
PENDING_DIR = "pending"
RUNS_DIR = "runs"
REPORTS_DIR = "reports"
MONTHLY_REPORT_DIR = f"{REPORTS_DIR}/monthly"
PART_SUFFIX = ".parquet"
# The run lease (held by the one writer of an output); its content belongs to the lease module.
LEASE_PATH = "lease.json"
# Stands in for a run id in the names of parts that compaction writes.
COMPACTED_RUN_ID = "compacted"


def probe_path() -> str:
    """A fresh name for the probe that checks, before a run, that the output can be written (never kept)."""
    return f".retouch-probe-{uuid.uuid4().hex[:12]}"


def image_path(variant: str, job_key: str, index: int, extension: str) -> str:
    """Output `index` of a job: fanned out by the key's first two characters so no folder grows huge."""
    return f"{IMAGES_DIR}/{variant}/{job_key[:2]}/{job_key}_{index}.{extension}"


def part_path(folder: str, run_id: str) -> str:
    """A new, unique Parquet part of the table under `folder` (`results/` or `costs/`)."""
    return f"{folder}/part-{run_id}-{uuid.uuid4().hex[:12]}{PART_SUFFIX}"


def results_part_path(run_id: str) -> str:
    """A new, unique part of the results table."""
    return part_path(RESULTS_DIR, run_id)


def ledger_part_path(run_id: str) -> str:
    """A new, unique part of the cost ledger."""
    return part_path(LEDGER_DIR, run_id)


def pending_path(job_key: str) -> str:
    """The journal entry of one job."""
    return f"{PENDING_DIR}/{job_key}.json"


def manifest_path(run_id: str) -> str:
    """The manifest of one run."""
    return f"{RUNS_DIR}/{run_id}.json"


def run_id_of_manifest(path: str) -> str:
    """The run id a manifest path names (the inverse of `manifest_path`)."""
    return path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")


def report_dir(run_id: str) -> str:
    """The folder of one run's report (or of a standalone forecast's, `forecast-<id>`)."""
    return f"{REPORTS_DIR}/{run_id}"


def forecast_path(run_id: str) -> str:
    """The saved forecast of one run."""
    return f"{report_dir(run_id)}/forecast.parquet"


def schedule_forecast_path(run_id: str, extension: str) -> str:
    """A run's schedule forecast (`md` or `parquet`); `retouch forecast --schedule` uses `schedule-<id>`."""
    return f"{report_dir(run_id)}/schedule-forecast.{extension}"
