"""The results table: Parquet parts under `results/`, one row per output image, read back as one table."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tasks.core.models import EditResult
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR, results_part_path

__all__ = [
    "RESULT_SCHEMA",
    "PriorWork",
    "job_identity",
    "prior_work",
    "read_results",
    "result_rows",
    "succeeded_keys",
    "write_result_rows",
    "write_results_part",
]


# The fixed columns, in order; the catalog's extra columns follow them.
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "job_key": pl.String(),
    "output_index": pl.Int32(),
    "row_id": pl.String(),
    "variant": pl.String(),
    "provider": pl.String(),
    "model": pl.String(),
    "seed": pl.Int64(),
    "count": pl.Int32(),
    "prompt": pl.String(),
    "params": pl.String(),
    "source": pl.String(),
    "output_uri": pl.String(),
    "width": pl.Int32(),
    "height": pl.Int32(),
    "format": pl.String(),
    "bytes": pl.Int64(),
    "sha256": pl.String(),
    "status": pl.String(),
    "error_type": pl.String(),
    "error_message": pl.String(),
    "attempts": pl.Int32(),
    "billing_risk": pl.Boolean(),
    "provider_job_id": pl.String(),
    "request_id": pl.String(),
    "correlation_id": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "latency_ms": pl.Float64(),
    "credits": pl.Float64(),
    "cost": pl.Float64(),
    "run_id": pl.String(),
}


def result_rows(result: EditResult) -> list[dict[str, Any]]:
    """Flatten one job's result: a row per output image, or one row when there is none."""
    job = result.job
    base: dict[str, Any] = {
        "job_key": job.job_key,
        "row_id": job.row_id,
        "variant": job.variant,
        "provider": job.provider,
        "model": job.model,
        "seed": job.seed,
        "count": job.count,
        "prompt": job.prompt,
        "params": job.params_json,
        "source": job.image.display,
        "status": result.status,
        "error_type": result.error_type,
        "error_message": result.error_message,
        "attempts": result.attempts,
        "billing_risk": result.billing_risk,
        "provider_job_id": result.provider_job_id,
        "request_id": result.request_id,
        "correlation_id": result.correlation_id,
        "started_at": _timestamp(result.started_at),
        "finished_at": _timestamp(result.finished_at),
        "latency_ms": _latency_ms(result),
        "credits": result.credits,
        "cost": result.cost,
        "run_id": result.run_id,
    }
    extras = {f"{key}" if key not in RESULT_SCHEMA else f"catalog_{key}": value for key, value in job.extras.items()}
    if not result.outputs:
        return [{**base, "output_index": None, **extras}]
    rows = []
    share = len(result.outputs)  # each image row carries its share of the job's cost, so sums add up
    for output in result.outputs:
        rows.append(
            {
                **base,
                "credits": None if result.credits is None else result.credits / share,
                "cost": None if result.cost is None else result.cost / share,
                "output_index": output.index,
                "output_uri": output.uri,
                "width": output.width,
                "height": output.height,
                "format": output.format,
                "bytes": output.bytes,
                "sha256": output.sha256,
                **extras,
            }
        )
    return rows


def results_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a DataFrame with the fixed schema first and extra catalog columns after it."""
    extra_names = [name for name in dict.fromkeys(key for row in rows for key in row) if name not in RESULT_SCHEMA]
    fixed = pl.DataFrame([{name: row.get(name) for name in RESULT_SCHEMA} for row in rows], schema=RESULT_SCHEMA)
    if not extra_names:
        return fixed
    extras = pl.DataFrame([{name: row.get(name) for name in extra_names} for row in rows], infer_schema_length=None)
    return pl.concat([fixed, extras], how="horizontal")


def write_results_part(storage: Storage, results: Iterable[EditResult], *, run_id: str) -> str | None:
    """Write one atomic Parquet part holding `results`; returns its URL (None when there was nothing)."""
    return write_result_rows(storage, [row for result in results for row in result_rows(result)], run_id=run_id)


def write_result_rows(storage: Storage, rows: Sequence[dict[str, Any]], *, run_id: str) -> str | None:
    """Write rows already flattened by `result_rows` (e.g. kept in the journal) as one atomic part."""
    if not rows:
        return None
    buffer = io.BytesIO()
    results_frame(rows).write_parquet(buffer, compression="zstd")
    name = results_part_path(run_id)
    return storage.write_bytes(name, buffer.getvalue())


def read_results(storage: Storage, *, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Every results part under the storage root as one DataFrame (empty with the schema if none)."""
    parts = storage.list(RESULTS_DIR, ".parquet")
    if not parts:
        return pl.DataFrame(schema=RESULT_SCHEMA).select(columns or list(RESULT_SCHEMA))
    frames = []
    for part in parts:
        frame = pl.read_parquet(io.BytesIO(storage.read_bytes(part)), columns=list(columns) if columns else None)
        frames.append(frame)
    return pl.concat(frames, how="diagonal_relaxed")


def succeeded_keys(storage: Storage) -> set[str]:
    """Job keys that already have a succeeded row: a re-run skips these."""
    return prior_work(storage).done


@dataclass
class PriorWork:
    """What earlier runs finished: succeeded keys, and each (row, variant, seed)'s latest succeeded key."""

    done: set[str]
    latest: dict[str, str]
    unknown: set[str] = field(default_factory=set)


def job_identity(row_id: str, variant: str, seed: int | None) -> str:
    """The slot a job fills, whatever its content: a new key in an old slot is a changed job."""
    return f"{row_id}\x1f{variant}\x1f{seed}"


def prior_work(storage: Storage) -> PriorWork:
    """Read the results table once for what a re-run must skip and how the catalog changed."""
    frame = read_results(storage, columns=["job_key", "row_id", "variant", "seed", "status", "finished_at"])
    succeeded = frame.filter(pl.col("status") == "succeeded").sort("finished_at")
    latest = succeeded.unique(subset=["row_id", "variant", "seed"], keep="last")
    slots = {
        job_identity(row_id, variant, seed): key
        for key, row_id, variant, seed in latest.select("job_key", "row_id", "variant", "seed").iter_rows()
    }
    done = set(succeeded.get_column("job_key").to_list())
    unknown = set(frame.filter(pl.col("status") == "unknown").get_column("job_key").to_list()) - done
    return PriorWork(done=done, latest=slots, unknown=unknown)


def _timestamp(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def _latency_ms(result: EditResult) -> float | None:
    if result.started_at is None or result.finished_at is None:
        return None
    return round((result.finished_at - result.started_at) * 1000, 3)
