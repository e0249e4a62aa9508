"""`retouch run` shows each provider's numbers under its bar: done of planned, failed, in flight, rate, ETA, spend."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from tests.cli.kit import assert_fits, invoke


@pytest.mark.usefixtures("prefect_harness")
def test_the_provider_table_ends_with_the_results_tables_counts(failing_config: Path) -> None:
    answer = invoke("run", str(failing_config))

    results = pl.read_parquet(failing_config.parent / "out" / "results" / "*.parquet")
    jobs = results["job_key"].n_unique()
    failed = results.filter(pl.col("status") == "failed")["job_key"].n_unique()
    assert re.search(r"provider\s+done\s+failed\s+in flight\s+rate\s+ETA\s+spend", answer.output), answer.output
    row = re.search(
        rf"^\s*local\s+{jobs}/{jobs}\s+{failed}\s+0\s+\S+/(s|min)\s+0:00:00\s+0\.00 USD\s*$", answer.output, re.M
    )
    assert row is not None and failed == 2, answer.output
    assert_fits(answer.output)


@pytest.mark.usefixtures("prefect_harness")
def test_a_dry_run_shows_no_provider_table(config: Path) -> None:
    answer = invoke("run", str(config), "--dry-run")

    assert "planned (dry run)" in answer.output and "in flight" not in answer.output
