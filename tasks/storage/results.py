"""The results table: Parquet parts under `results/`, one row per output image, read back as one table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from tasks.core.models import EditResult
from tasks.storage.columns import arrow_schema, build_column, declared_schema
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR
from tasks.storage.parts import PartTable, read_parts, write_part

__all__ = [
    "RESULTS_TABLE",
    "RESULT_ARROW_SCHEMA",
    "RESULT_KEY",
    "RESULT_SCHEMA",
    "PriorWork",
    "job_identity",
    "latest_succeeded",
    "prior_work",
    "read_results",
    "result_rows",
    "results_schema",
    "results_table",
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
    # Quality (README "Quality"): null in tables written before scores existed, and where not computable.
    "attempt": pl.Int32(),
    "retry_of": pl.String(),
    "accepted": pl.Boolean(),
    "rejected_by": pl.String(),
    "ssim_outside_mask": pl.Float64(),
    "changed": pl.Float64(),
    "blank": pl.Boolean(),
    "clipped": pl.Float64(),
    "sharpness": pl.Float64(),
    "aspect_error": pl.Float64(),
    "dhash": pl.String(),
    "duplicate_distance": pl.Int32(),
}
RESULT_ARROW_SCHEMA = arrow_schema(RESULT_SCHEMA)
# One event of one output: a row seen twice (an interrupted compaction, a retried write) has it twice.
RESULT_KEY = ("job_key", "output_index", "run_id", "finished_at")


def latest_succeeded(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep one succeeded row per job and output, the latest; every other status stays (each is history).

    A job run again with `--force` overwrote its images at the same paths, so its older succeeded rows
    describe files that no longer exist.
    """
    succeeded = pl.col("status") == "succeeded"
    done = frame.filter(succeeded).sort("finished_at", nulls_last=False, maintain_order=True)
    latest = done.unique(["job_key", "output_index"], keep="last", maintain_order=True)
    return pl.concat([frame.filter(~succeeded | pl.col("status").is_null()), latest])


RESULTS_TABLE = PartTable(
    folder=RESULTS_DIR, fixed=RESULT_ARROW_SCHEMA, key=RESULT_KEY, order="finished_at", reduce=latest_succeeded
)


def results_schema(extras: pa.Schema | None = None, held: Sequence[pa.Schema] = ()) -> pa.Schema:
    """The results table's declared schema: retouch's columns, then the catalog's pass-through columns.

    Args:
        extras: the catalog's pass-through columns in the catalog's own Arrow types (renamed as
            `result_rows` renames them when they clash with a fixed column).
        held: the schemas of the parts the output already holds; their columns keep their place and a
            type changed by the catalog widens (or raises).

    Raises:
        CatalogError: a column's old and new types cannot be joined (see `tasks.storage.columns`).
    """
    renamed = None if extras is None else pa.schema([field.with_name(_extra_name(field.name)) for field in extras])
    return declared_schema(RESULT_ARROW_SCHEMA, held, renamed)


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
        "attempt": job.attempt,
        "retry_of": job.retry_of,
    }
    extras = {_extra_name(key): value for key, value in job.extras.items()}
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
                "accepted": output.accepted,
                "rejected_by": output.rejected_by,
                **dict(output.scores),
                **extras,
            }
        )
    return rows


def results_table(rows: Sequence[dict[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """Rows as an Arrow table in `schema` (the run's declared one); columns it lacks are inferred after it.

    Without a schema the pass-through columns are inferred from these rows alone (never as null type),
    which is how parts were typed before a run declared its schema: keep that to callers outside a run.
    """
    schema = RESULT_ARROW_SCHEMA if schema is None else schema
    declared = set(schema.names)
    undeclared = [name for name in dict.fromkeys(key for row in rows for key in row) if name not in declared]
    if not undeclared:
        try:  # the common case, values already in the declared types: Arrow converts the rows in one call
            return pa.Table.from_pylist(list(rows), schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass  # a widened column (a date into a string one): convert column by column below
    arrays = [build_column([row.get(field.name) for row in rows], field.type) for field in schema]
    arrays += [build_column([row.get(name) for row in rows]) for name in undeclared]
    return pa.Table.from_arrays(arrays, names=[*schema.names, *undeclared])


def write_results_part(
    storage: Storage, results: Iterable[EditResult], *, run_id: str, schema: pa.Schema | None = None
) -> str | None:
    """Write one atomic Parquet part holding `results` in `schema`; returns its URL (None when there was nothing).

    Args:
        schema: the run's declared results schema (`results_schema`); see `results_table` for None.
    """
    rows = [row for result in results for row in result_rows(result)]
    return write_result_rows(storage, rows, run_id=run_id, schema=schema)


def write_result_rows(
    storage: Storage, rows: Sequence[dict[str, Any]], *, run_id: str, schema: pa.Schema | None = None
) -> str | None:
    """Write rows already flattened by `result_rows` (e.g. kept in the journal) as one atomic part.

    Args:
        schema: the run's declared results schema; see `results_table` for None.
    """
    if not rows:
        return None
    return write_part(storage, RESULTS_DIR, results_table(rows, schema), run_id=run_id)


def read_results(storage: Storage, *, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Every results part under the storage root as one DataFrame, each row once (empty with the schema if none)."""
    return read_parts(storage, RESULTS_TABLE, columns=columns)


def succeeded_keys(storage: Storage) -> set[str]:
    """Job keys that already have a succeeded row: a re-run skips these."""
    return prior_work(storage).done


@dataclass
class PriorWork:
    """What earlier runs finished: succeeded keys, and each (row, variant, seed)'s latest succeeded key.

    `tried` holds the keys that ended failed, skipped or unknown and never succeeded: a re-run retries them;
    `errors` holds each tried key's latest error type (`retouch run --only-failed --error-type` picks by it).
    """

    done: set[str]
    latest: dict[str, str]
    unknown: set[str] = field(default_factory=set)
    tried: set[str] = field(default_factory=set)
    errors: dict[str, str | None] = field(default_factory=dict)


def job_identity(row_id: str, variant: str, seed: int | None) -> str:
    """The slot a job fills, whatever its content: a new key in an old slot is a changed job."""
    return f"{row_id}\x1f{variant}\x1f{seed}"


def prior_work(storage: Storage) -> PriorWork:
    """Read the results table once for what a re-run must skip and how the catalog changed."""
    frame = read_results(
        storage, columns=["job_key", "row_id", "variant", "seed", "status", "error_type", "finished_at", "retry_of"]
    )
    succeeded = frame.filter(pl.col("status") == "succeeded").sort("finished_at")
    # A slot is a planned job's: a regeneration or fallback (retry_of set) fills its chain's, not its own.
    firsts = succeeded.filter(pl.col("retry_of").is_null())
    latest = firsts.unique(subset=["row_id", "variant", "seed"], keep="last")
    slots = {
        job_identity(row_id, variant, seed): key
        for key, row_id, variant, seed in latest.select("job_key", "row_id", "variant", "seed").iter_rows()
    }
    done = set(succeeded.get_column("job_key").to_list())
    unknown = set(frame.filter(pl.col("status") == "unknown").get_column("job_key").to_list()) - done
    unsuccessful = frame.filter(pl.col("status") != "succeeded").join(
        succeeded.select("job_key"), on="job_key", how="anti"
    )
    last = unsuccessful.sort("finished_at", nulls_last=False).unique(subset=["job_key"], keep="last")
    errors = dict(last.select("job_key", "error_type").iter_rows())
    return PriorWork(done=done, latest=slots, unknown=unknown, tried=set(errors), errors=errors)


def _extra_name(column: str) -> str:
    return f"catalog_{column}" if column in RESULT_SCHEMA else column


def _timestamp(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def _latency_ms(result: EditResult) -> float | None:
    if result.started_at is None or result.finished_at is None:
        return None
    return round((result.finished_at - result.started_at) * 1000, 3)
