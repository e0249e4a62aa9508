"""The output's two tables at a run's start: the results schema it declares, and older parts brought to it."""

from __future__ import annotations

import pyarrow as pa

from tasks.core.config import PipelineConfig
from tasks.costs.ledger import LEDGER_ARROW_SCHEMA, LEDGER_TABLE
from tasks.pipeline.catalog import read_catalog_schema
from tasks.storage.compact import Compaction, compact_table
from tasks.storage.fs import Storage
from tasks.storage.layout import RESULTS_DIR
from tasks.storage.parts import PartTable, part_schemas
from tasks.storage.results import RESULTS_TABLE, results_schema

__all__ = ["OUTPUT_TABLES", "conform_tables", "plan_results_schema"]

# Every table of an output, in the order compaction visits them.
OUTPUT_TABLES: tuple[PartTable, ...] = (RESULTS_TABLE, LEDGER_TABLE)


def plan_results_schema(config: PipelineConfig, storage: Storage) -> pa.Schema:
    """The schema every results part of a run is written in: the output's columns, widened by the catalog's.

    Reads the catalog's footer and each results part's footer; writes nothing (dry runs call it too).

    Raises:
        CatalogError: the catalog changed a column's type in a way no widening accepts; names the
            column and both types, before anything is spent.
    """
    held = list(part_schemas(storage, RESULTS_DIR).values())
    return results_schema(read_catalog_schema(config.catalog), held)


def conform_tables(storage: Storage, schema: pa.Schema) -> tuple[Compaction, ...]:
    """Rewrite results/ and costs/ into their declared schemas where a part differs; a no-op otherwise.

    A part differs when an older retouch wrote it (null-typed columns, no `ledger_id`) or when the
    catalog widened a column: the table is then compacted into one schema, so every reader reads it
    as it is. Call it holding the output (a run, not a dry run), before the first part is written.

    Args:
        schema: the run's results schema, from `plan_results_schema`.
    """
    done = []
    for table, declared in ((RESULTS_TABLE, schema), (LEDGER_TABLE, LEDGER_ARROW_SCHEMA)):
        if any(not held.equals(declared) for held in part_schemas(storage, table.folder).values()):
            done.append(compact_table(storage, table, schema=declared))
    return tuple(done)
