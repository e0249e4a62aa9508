"""`retouch pilot` on two sandbox providers with different bad-output rates, then the full run it recommends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows.edit_catalog import edit_catalog
from tasks.quality.pilot import sample_ids
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.cli.kit import invoke
from tests.quality.kit import FASHN, PIXAPI, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
CATALOG_ROWS = 20


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    fast = {"async_seconds": 0.02}
    with SandboxServer(
        SandboxSettings.model_validate({n: dict(fast) for n in ("picsart", "pixapi", "fashn")})
    ) as server:
        yield server


def test_sample_ids_are_seeded_and_stratified() -> None:
    ids = [f"r{i}" for i in range(20)]
    strata = ["a"] * 10 + ["b"] * 8 + ["c"] * 2
    first = sample_ids(ids, strata, 0.2, seed=1)
    assert first == sample_ids(ids, strata, 0.2, seed=1) != sample_ids(ids, strata, 0.2, seed=2)
    assert [sum(1 for row in first if strata[ids.index(row)] == s) for s in "abc"] == [2, 2, 1]  # at least 1 each


def test_pilot_names_the_cheaper_per_accepted_provider_and_projects_the_full_run(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # FASHN costs half as much per image but spoils most of its outputs; Pixapi spoils few.
    faults = {"seed": 2, "providers": {"pixapi": {"blank": 0.1}, "fashn": {"blank": 0.7}}}
    variant = {"name": "clean", **PIXAPI, "prompt": "{prompt}", "seeds": [1], "accept": {"not_blank": True},
               "fallback": [FASHN]}  # fmt: skip
    config = write_config(sandbox, tmp_path, variant, faults)
    result = invoke("pilot", str(config), "--sample", "40%", "--stratify", "category", "--seed", "4")
    assert result.exit_code == 0, result.output
    summary = pl.read_parquet(tmp_path / "out" / "pilot" / "summary.parquet")
    by_provider = {row["provider"]: row for row in summary.iter_rows(named=True)}
    assert set(by_provider) == {"pixapi.edits", "fashn.edit"}
    pixapi, fashn = by_provider["pixapi.edits"], by_provider["fashn.edit"]
    assert pixapi["acceptance"] > fashn["acceptance"]
    assert pixapi["cost_per_accepted"] < fashn["cost_per_accepted"]
    assert "Best cost per accepted image: pixapi.edits" in result.output.replace("*", "")
    gallery = (tmp_path / "out" / "pilot" / "gallery.html").read_text()
    assert gallery.count("data:image/jpeg;base64,") == pixapi["chains"] + fashn["chains"] and "<script" not in gallery

    # The full run from the winner's config: its cost lands within 10% of the pilot's projection.
    winner = tmp_path / "config.pilot-pixapi.edits.yaml"
    assert f"Full run from pixapi.edits: retouch run {winner}" in result.output
    raw = yaml.safe_load(winner.read_text())
    assert raw["edits"][0]["provider"] == "pixapi.edits" and raw["edits"][0]["fallback"][0]["provider"] == "fashn.edit"
    raw["edits"][0]["fallback"] = []  # the actual to compare with is the winner's alone
    raw["output"]["uri"] = str(tmp_path / "full")
    winner.write_text(yaml.safe_dump(raw))
    full = edit_catalog(str(winner))
    actual = pl.read_parquet(tmp_path / "full" / "results" / "*.parquet")["cost"].sum()
    assert full.counts == {"succeeded": CATALOG_ROWS}
    assert abs(pixapi["projected_cost"] - actual) <= 0.10 * actual
    assert pixapi["projected_cost_low"] - 1e-9 <= actual <= pixapi["projected_cost_high"] + 1e-9
