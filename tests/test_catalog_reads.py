"""The catalog is read once per planning pass, counted through a counting fsspec filesystem in real runs.

A run reads the catalog in full twice: one pass validates, counts and forecasts (prepare), one pass plans
the shards of every provider's stream. A dry run reads it once. Before, a run read it N+3 times for N
provider streams (the CLI's count, the flow's count, the forecast, one pass per stream).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import polars as pl
import pytest
from fsspec.implementations.local import LocalFileSystem
from typer.testing import CliRunner

from flows.cli import app
from flows.edit_catalog import edit_catalog
from tasks.core.config import load_config
from tasks.pipeline.catalog import iter_catalog, read_catalog_schema
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.helpers import local_config, make_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
OPENS: Counter[str] = Counter()
EDITS = [
    {"name": "as_written", "provider": "local", "seeds": [1, 2]},
    {
        "name": "gemini",
        "provider": "pixapi.edits",
        "model": "gemini-2.5-flash-image",
        "params": {"response_format": "b64_json"},
    },
]


class CountingFileSystem(LocalFileSystem):
    """The local filesystem under `countingfile://`, counting the files it opens."""

    protocol = "countingfile"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        OPENS[str(self._strip_protocol(path))] += 1
        return super()._open(path, mode, **kwargs)


fsspec.register_implementation("countingfile", CountingFileSystem, clobber=True)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings.model_validate({"pixapi": {"async_seconds": 0.05}})) as server:
        yield server


@pytest.fixture
def config(sandbox: SandboxServer, tmp_path: Path) -> Path:
    """Two local variants and a Pixapi variant (two provider streams) over a 4-row catalog read by counting."""
    catalog = make_catalog(tmp_path, rows=4)
    raw = local_config(catalog, tmp_path / "out", EDITS)
    raw["catalog"]["uri"] = f"countingfile://{catalog}"
    raw["providers"] = {
        "pixapi.edits": {
            "base_url": f"{sandbox.base_url}/pixapi",
            "api_key": "${RETOUCH_TEST_SANDBOX_KEY:-sandbox-key}",
            "mode": "async",
            "poll_interval": 0.05,
        }
    }
    return write_config(tmp_path, raw)


def catalog_reads(config: Path) -> tuple[int, int]:
    """(full passes, footer-only reads) of the catalog since the last call, measured against one of each."""
    path = str(config.parent / "catalog.parquet")
    opened = OPENS.pop(path, 0)
    catalog = load_config(config).catalog
    for _ in iter_catalog(catalog):  # one pass, to learn how many opens a pass makes
        pass
    per_pass = OPENS.pop(path)
    read_catalog_schema(catalog)  # the results schema reads the catalog's footer only
    per_footer = OPENS.pop(path)
    for passes in range(opened // per_pass + 1):
        footers, rest = divmod(opened - passes * per_pass, per_footer)
        if not rest and footers <= 1:
            return passes, footers
    raise AssertionError(f"{opened} opens are no whole number of passes ({per_pass}) and footers ({per_footer})")


def test_a_run_reads_the_catalog_twice_prepare_pass_then_one_planning_pass(config: Path) -> None:
    catalog_reads(config)
    summary = edit_catalog(str(config))  # started without the CLI: the flow prepares itself
    assert catalog_reads(config) == (2, 1)  # prepare pass + planning pass; the schema's footer
    assert summary.counts == {"succeeded": 12} and summary.shards == 2  # 8 local jobs, 4 Pixapi jobs
    providers = pl.read_parquet(config.parent / "out" / "results" / "*.parquet")["provider"].value_counts()
    assert dict(providers.iter_rows()) == {"local": 8, "pixapi.edits": 4}


def test_the_cli_prepares_once_and_a_dry_run_reads_once(config: Path) -> None:
    catalog_reads(config)
    result = CliRunner().invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    assert catalog_reads(config) == (2, 1)  # prepare pass + planning pass; the schema's footer
    dry = CliRunner().invoke(app, ["run", str(config), "--dry-run", "--force"])
    assert dry.exit_code == 0, dry.output
    assert catalog_reads(config) == (1, 1)  # the prepare pass; the schema's footer


def test_a_refresh_counts_each_providers_changes_from_the_one_pass(config: Path) -> None:
    edit_catalog(str(config))
    catalog = config.parent / "catalog.parquet"
    frame = pl.read_parquet(catalog).filter(pl.col("sku") != "S0")  # S0 removed
    frame = frame.with_columns(
        pl.when(pl.col("sku") == "S1").then(pl.lit("sepia")).otherwise(pl.col("instruction")).alias("instruction")
    )  # S1 changed
    pl.concat([frame, frame.head(1).with_columns(pl.lit("S9").alias("sku"))]).write_parquet(catalog)  # S9 new
    catalog_reads(config)
    refresh = edit_catalog(str(config))
    assert catalog_reads(config) == (2, 1)  # prepare pass + planning pass; the schema's footer
    assert (refresh.planned, refresh.already_done, refresh.to_run) == (12, 6, 6)  # 4 rows × 3 jobs
    assert (refresh.new, refresh.changed, refresh.removed) == (3, 3, 3)
    assert refresh.counts == {"succeeded": 6}
