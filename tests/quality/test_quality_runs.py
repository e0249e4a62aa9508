"""Accept rules, regeneration and fallback, run for real by the flow against the sandbox with bad outputs injected."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from flows.report import cost_report
from tasks.sandbox import SandboxServer
from tests.quality.kit import FASHN, PIXAPI, bytes_catalog, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROWS = 6


PRICE = {1: 0.02, 2: 0.02, 3: 0.01}  # money of each attempt: pixapi's 2 credits, FASHN's 1


@pytest.mark.parametrize("cap", [0.05, 0.03])
def test_rejected_outputs_are_regenerated_then_sent_to_the_fallback_within_the_cap(
    sandbox: SandboxServer, tmp_path: Path, cap: float
) -> None:
    # Pixapi spoils half its outputs (blank or unchanged); FASHN spoils none.
    faults = {"seed": 3, "providers": {"pixapi": {"blank": 0.3, "unchanged": 0.3}}}
    variant = {
        "name": "clean", **PIXAPI, "prompt": "{prompt}", "seeds": [7],
        "accept": {"not_blank": True, "changed": ">= 0.02"},
        "on_reject": {"retry_seeds": 1},
        "fallback": [FASHN],
        "max_cost_per_accepted": cap,
    }  # fmt: skip
    # Images as bytes in the table: job keys, and so the sandbox's bad outputs, are the same in every checkout.
    catalog = bytes_catalog(tmp_path / "catalog", ROWS)
    summary = edit_catalog(str(write_config(sandbox, tmp_path, variant, faults, catalog)))
    table = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    table = table.with_columns(chain=pl.coalesce("retry_of", "job_key"))
    assert table["chain"].n_unique() == ROWS  # one chain per row (one seed)

    # Every bad output is stored, scored and marked; every good one accepted.
    rejected = table.filter(~pl.col("accepted"))
    assert rejected.height > 0 and rejected["output_uri"].null_count() == 0
    assert set(rejected["rejected_by"]) <= {"not_blank", "changed", "not_blank,changed"}
    assert (rejected.filter(pl.col("blank"))["rejected_by"].str.contains("not_blank")).all()
    assert table.filter(pl.col("accepted"))["changed"].min() >= 0.02  # type: ignore[operator]

    # Each chain: pixapi seed 7, pixapi seed 8, then FASHN seed 7; it ends accepted or out of attempts or cap.
    for chain in table.partition_by("chain"):
        chain = chain.sort("attempt")
        steps = list(zip(chain["attempt"], chain["provider"], chain["seed"], strict=True))
        expected = [(1, "pixapi.edits", 7), (2, "pixapi.edits", 8), (3, "fashn.edit", 7)][: chain.height]
        assert steps == expected
        assert chain["cost"].to_list() == [PRICE[attempt] for attempt in chain["attempt"]]
        assert chain["accepted"][-1] or chain.height == 3 or chain["cost"].sum() + PRICE[chain.height + 1] > cap
        assert not chain["accepted"][:-1].any()  # nothing is tried after an accepted output
        assert chain["cost"].sum() <= cap + 1e-9
        assert chain["job_key"].n_unique() == chain.height  # every attempt is a new job with its own key
    fallbacks = table.filter(pl.col("provider") == "fashn.edit").height
    assert fallbacks > 0 if cap >= 0.05 else fallbacks == 0  # the fallback ran where the cap let it
    assert rejected.filter(pl.col("changed") == 0.0).height > 0 and rejected.filter(pl.col("blank")).height > 0
    billed = httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"]
    assert len(billed) == table.height and summary.counts == {"succeeded": table.height}

    # The run report: accepted vs rejected by provider and rule, and the cost per accepted image.
    report = cost_report(str(tmp_path / "out"))
    accepted = table.filter(pl.col("accepted"))
    assert f"Cost per accepted image: **{table['cost'].sum() / accepted.height:,.4f} USD**" in report.markdown
    by_rule = pl.read_parquet(tmp_path / "out" / "reports" / summary.run_id / "rejections.parquet")
    blank = rejected.filter(pl.col("rejected_by").str.contains("not_blank")).height
    assert by_rule.filter(pl.col("rule") == "not_blank")["outputs"].sum() == blank
    assert "### Rejected examples" in report.markdown


def test_without_a_cap_every_row_ends_accepted_or_out_of_attempts_and_the_forecast_expects_retries(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    faults = {"seed": 0, "providers": {"pixapi": {"blank": 0.2, "off_mask": 0.4}}}
    variant = {
        "name": "keep", **PIXAPI, "prompt": "{prompt}", "seeds": [1],
        "accept": {"not_blank": True, "ssim_outside_mask": ">= 0.85"},
        "on_reject": {"retry_seeds": 2},
        "fallback": [FASHN],
    }  # fmt: skip
    config = write_config(sandbox, tmp_path, variant, faults)
    edit_catalog(str(config), limit=ROWS)
    table = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    ends = table.with_columns(chain=pl.coalesce("retry_of", "job_key")).sort("attempt").group_by("chain").last()
    assert ends.height == ROWS
    assert ends.filter(~pl.col("accepted") & (pl.col("attempt") < 6)).height == 0
    assert table.filter(pl.col("rejected_by").str.contains("ssim_outside_mask")).height > 0  # off-mask caught
    # The next forecast prices the expected regenerations and fallbacks from the acceptance just observed.
    per_job = table.group_by("job_key", "provider").agg(pl.col("accepted").any())
    rate = dict(per_job.group_by("provider").agg(pl.col("accepted").mean()).iter_rows())
    miss_pixapi, miss_fashn = 1 - rate["pixapi.edits"], 1 - rate.get("fashn.edit", 1.0)
    forecast = edit_catalog(str(config), limit=ROWS, dry_run=True, force=True).forecast
    assert forecast is not None
    retries = [group for group in forecast.groups if group.variant == "keep (expected retries)"]
    expected = ROWS * PRICE[1] * (miss_pixapi + miss_pixapi**2) + ROWS * PRICE[3] * miss_pixapi**3 * (
        1 + miss_fashn + miss_fashn**2
    )
    assert 0 < miss_pixapi < 1 and sum(group.known_money for group in retries) == pytest.approx(expected)


def test_a_re_run_never_sends_a_fallback_step_an_earlier_run_did(sandbox: SandboxServer, tmp_path: Path) -> None:
    # Every Pixapi job fails (refunded); FASHN takes each row. A re-run reads each chain's latest step, an
    # accepted FASHN output: the row is done, so neither the failed Pixapi job nor the billed FASHN one is
    # sent again.
    faults = {"seed": 1, "providers": {"pixapi": {"job_fail": 1.0}}}
    variant = {"name": "fb", **PIXAPI, "prompt": "{prompt}", "seeds": [1], "accept": {"not_blank": True},
               "fallback": [FASHN]}  # fmt: skip
    config = write_config(sandbox, tmp_path, variant, faults)
    edit_catalog(str(config), limit=2)
    fashn_bills = [
        e for e in httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"] if e["provider"] == "fashn"
    ]
    again = edit_catalog(str(config), limit=2)
    after = [e for e in httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"] if e["provider"] == "fashn"]
    assert len(fashn_bills) == 2 and after == fashn_bills
    assert again.counts == {} and again.already_done == 2  # each chain ended accepted: nothing is due
    table = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    assert table.filter(pl.col("provider") == "fashn.edit").height == 2
