"""A chain an earlier run left open is resumed where it stopped: its due step, never a paid attempt again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml

from flows.edit_catalog import edit_catalog
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.quality.kit import FASHN, PIXAPI, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROWS = 6
PRICE = {"pixapi.edits": 0.02, "fashn.edit": 0.01}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    fast = {"async_seconds": 0.02}
    with SandboxServer(
        SandboxSettings.model_validate({n: dict(fast) for n in ("picsart", "pixapi", "fashn")})
    ) as server:
        yield server


def chains(out: Path) -> dict[str, pl.DataFrame]:
    """Every chain's result rows, by the key of its first job, in step order."""
    table = pl.read_parquet(out / "results" / "*.parquet").with_columns(chain=pl.coalesce("retry_of", "job_key"))
    return {str(part["chain"][0]): part.sort("attempt", "finished_at") for part in table.partition_by("chain")}


def test_a_chain_stopped_by_the_budget_resumes_at_its_due_step_and_its_cap_counts_earlier_spend(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Pixapi spoils about half its outputs. Steps: Pixapi seed 1, Pixapi seed 2, FASHN seed 1 (0.02, 0.02,
    # 0.01). The first run's budget pays for the six first attempts only, so every regeneration it wants is
    # skipped (never sent). The cap of 0.045 per accepted image lets a chain pay for two Pixapi attempts but
    # not then FASHN: a re-run that forgot the 0.02 spent before it would send FASHN after a second rejection.
    faults = {"seed": 11, "providers": {"pixapi": {"blank": 0.5}}}
    variant = {
        "name": "clean", **PIXAPI, "prompt": "{prompt}", "seeds": [1], "accept": {"not_blank": True},
        "on_reject": {"retry_seeds": 1}, "fallback": [FASHN], "max_cost_per_accepted": 0.045,
    }  # fmt: skip
    config = write_config(sandbox, tmp_path, variant, faults)
    raw = yaml.safe_load(config.read_text())
    raw["budget"]["max_money"] = 0.13
    config.write_text(yaml.safe_dump(raw))
    first = edit_catalog(str(config), limit=ROWS)
    out = tmp_path / "out"
    skipped = {
        chain for chain, rows in chains(out).items() if rows["status"][-1] == "skipped" and rows["attempt"][-1] == 2
    }
    assert first.counts["skipped"] == len(skipped) >= 2  # chains left open with a step due

    raw["budget"]["max_money"] = 1.0
    config.write_text(yaml.safe_dump(raw))
    again = edit_catalog(str(config), limit=ROWS)
    assert again.retried == len(skipped) and again.already_done == ROWS - len(skipped)

    bill = httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"]
    assert max(Counter(entry["request_id"] for entry in bill).values()) == 1  # no job billed twice
    final = chains(out)
    sent = {chain: rows.filter(pl.col("status") == "succeeded") for chain, rows in final.items()}
    assert len(bill) == sum(rows.height for rows in sent.values())
    twice_rejected = 0
    for chain, rows in sent.items():
        assert rows["attempt"].to_list() == list(range(1, rows.height + 1))  # each step once, in order
        assert rows["cost"].to_list() == [PRICE[provider] for provider in rows["provider"]]
        assert rows["cost"].sum() <= 0.045 + 1e-9
        assert rows["accepted"][-1] or rows.height == 2  # accepted, or out of attempts under the cap
        assert rows.height == (2 if chain in skipped else 1)  # rejected at step 1: step 2 was due, and ran
        twice_rejected += not rows["accepted"].any()
    assert twice_rejected >= 1  # a resumed chain rejected again stopped at the cap: earlier spend counted
    assert set(final) == set(sent) and len(final) == ROWS
