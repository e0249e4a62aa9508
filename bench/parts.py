"""The declared-schema part writer and the deduplicating reader against the per-part inference they replaced.

    python bench/parts.py [--rows 500] [--parts 50]

Writes one checkpoint's worth of result rows as a Parquet part both ways (retouch's `write_results_part`
path, and polars inferring each part's types as retouch did before), then reads a table of `--parts`
parts with `read_results` (one row per key) and with a bare polars concat. Prints CPU per row and the
ratios; the minimum of several repeats, so a busy machine does not decide the figure.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from common import goal

from tasks.core.models import EditJob, EditResult, ImageRef, StoredOutput
from tasks.storage.fs import Storage
from tasks.storage.results import read_results, result_rows, results_schema, results_table, write_results_part

EXTRAS = pa.schema([("title", pa.string()), ("launched", pa.date32()), ("stock", pa.int32()), ("note", pa.string())])


def result(index: int, run_id: str) -> EditResult:
    extras = (("title", f"item {index}"), ("launched", date(2024, 1, 1)), ("stock", index), ("note", None))
    job = EditJob(
        job_key=f"{index:032x}", row_id=f"S{index}", variant="v", provider="local", model=None, prompt="blur",
        params_json="{}", seed=1, count=1, image=ImageRef("path", f"/images/{index}.png"), extras_items=extras,
    )  # fmt: skip
    output = StoredOutput(0, f"/out/{index}.png", 64, 48, "png", 1234, "0" * 64)
    return EditResult(job, "succeeded", run_id, (output,), attempts=1, started_at=1.0, finished_at=2.0 + index)


def best(action: Callable[[], object], repeats: int = 7) -> float:
    """The least CPU seconds `action` took over `repeats` runs."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times)


def inferred_part(rows: list[dict[str, object]]) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame(rows, infer_schema_length=None).write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def declared_part(rows: list[dict[str, object]], schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(results_table(rows, schema), sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500, help="rows per part (execution.checkpoint_rows)")
    parser.add_argument("--parts", type=int, default=50, help="parts in the table read back")
    args = parser.parse_args()
    schema = results_schema(EXTRAS)
    rows = [row for index in range(args.rows) for row in result_rows(result(index, "run"))]
    declared_part(rows, schema)  # first conversions import what pyarrow loads lazily
    old, new = best(lambda: inferred_part(rows)), best(lambda: declared_part(rows, schema))
    print(f"write {args.rows} rows: inferred {old / args.rows * 1e6:.1f} µs/row, declared "
          f"{new / args.rows * 1e6:.1f} µs/row")  # fmt: skip
    goal("writing a part in the declared schema ÷ inferring it", new / old, 1.0)
    with tempfile.TemporaryDirectory() as root:
        storage = Storage(root)
        for part in range(args.parts):
            write_results_part(storage, [result(i, f"run-{part}") for i in range(args.rows)], run_id=f"run-{part}")
        paths = sorted((Path(root) / "results").glob("*.parquet"))
        bare = best(lambda: pl.concat([pl.read_parquet(path) for path in paths], how="diagonal_relaxed"), 3)
        keyed = best(lambda: read_results(storage), 3)
    total = args.rows * args.parts
    print(f"read {total} rows in {args.parts} parts: bare concat {bare / total * 1e6:.2f} µs/row, "
          f"read_results {keyed / total * 1e6:.2f} µs/row")  # fmt: skip
    goal("read_results (keyed, rows seen twice dropped) ÷ a bare concat", keyed / bare, 1.5)


if __name__ == "__main__":
    main()
