"""A chain an earlier run left open is resumed where it stopped: its due step, never a paid attempt again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml
from prefect.settings import PREFECT_API_URL

from flows.edit_catalog import edit_catalog
from tasks.pipeline.journal import read_journal
from tasks.sandbox import SandboxServer, SandboxSettings
from tasks.storage.fs import Storage
from tasks.storage.results import read_results
from tests.quality.kit import FASHN, PIXAPI, ROOT, bytes_catalog, write_config
from tests.reliability.kit import billed_twice, join_on_request_id

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROWS = 6
PRICE = {"pixapi.edits": 0.02, "fashn.edit": 0.01}


def chains(out: Path) -> dict[str, pl.DataFrame]:
    """Every chain's result rows, by the key of its first job, in step order."""
    table = read_results(Storage(str(out))).with_columns(chain=pl.coalesce("retry_of", "job_key"))
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
    config = write_config(sandbox, tmp_path, variant, faults, bytes_catalog(tmp_path / "catalog", ROWS))
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
    # The forecast prices each resumed chain from the step it is at: step 2 itself, then FASHN (step 3) as
    # often as Pixapi's outputs were rejected in the first run.
    judged = pl.concat(list(chains(out).values())).filter(pl.col("accepted").is_not_null())
    miss = 1 - judged["accepted"].mean()  # type: ignore[operator]
    forecast = edit_catalog(str(config), limit=ROWS, dry_run=True).forecast
    assert forecast is not None
    planned = {group.variant: group for group in forecast.groups}
    assert planned["clean"].jobs == len(skipped) and planned["clean"].provider == "pixapi.edits"
    assert planned["clean (expected retries)"].known_money == pytest.approx(len(skipped) * miss * PRICE["fashn.edit"])
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


CAP = 0.08  # three Pixapi attempts (0.06) and two of FASHN's three (0.02)


def test_a_run_killed_mid_chain_is_resumed_by_the_next_without_billing_any_job_twice(tmp_path: Path) -> None:
    # Jobs take 0.3 s at the provider, so a chain whose output was just rejected has its next step in
    # flight (or not yet sent) when the run is killed; the re-run polls it or sends it, then goes on.
    slow = {"async_seconds": 0.3}
    with SandboxServer(SandboxSettings.model_validate({"pixapi": slow, "fashn": slow})) as sandbox:
        faults = {"seed": 4, "providers": {"pixapi": {"blank": 0.5}, "fashn": {"blank": 0.4}}}
        variant = {
            "name": "clean", **PIXAPI, "prompt": "{prompt}", "seeds": [1], "accept": {"not_blank": True},
            "on_reject": {"retry_seeds": 2}, "fallback": [FASHN], "max_cost_per_accepted": CAP,
        }  # fmt: skip
        config = write_config(sandbox, tmp_path, variant, faults, bytes_catalog(tmp_path / "catalog", ROWS))
        raw = yaml.safe_load(config.read_text())
        raw["execution"] = {"checkpoint_seconds": 0.05}
        config.write_text(yaml.safe_dump(raw))
        out = tmp_path / "out"
        run = cli_run(config, cli_env(tmp_path), tmp_path / "run-1.log")
        spotted: list[tuple[str, int]] = []

        def mid_chain() -> bool:
            spotted.extend(filter(None, [open_chain(out)]))
            return bool(spotted) or run.poll() is not None

        wait_until(mid_chain, "a chain is left mid-way")
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        assert spotted, (tmp_path / "run-1.log").read_text()[-2000:]
        cut = spotted[0]

        summary = edit_catalog(str(config), limit=ROWS)  # the re-run, in this process
        assert billed_twice(sandbox.base_url) == {}
        assert all(billed == recorded for billed, recorded in join_on_request_id(sandbox.base_url, out).values())
        held = 0
        for chain, rows in chains(out).items():
            last = rows.filter(pl.col("attempt") == pl.col("attempt").max())
            held += last["status"][-1] == "unknown"  # a submit cut off on the wire: held, never sent again
            paid = rows.filter(pl.col("status") == "succeeded")
            assert paid["cost"].sum() <= CAP + 1e-9
            assert paid["attempt"].n_unique() == paid.height  # no step bought twice
            if last["status"][-1] == "succeeded" and not last["accepted"].any():
                step = int(last["attempt"][0])
                price = PRICE["pixapi.edits" if step + 1 <= 3 else "fashn.edit"]
                assert step == 6 or paid["cost"].sum() + price > CAP + 1e-9, chain  # out of attempts
            else:
                assert last["accepted"].any() or last["status"][-1] == "unknown", chain
        assert summary.held_unknown == held and summary.retried >= 1
        resumed = chains(out)[cut[0]]
        assert resumed["attempt"].max() > cut[1]  # the chain cut off after a rejection went on to its next step


def open_chain(out: Path) -> tuple[str, int] | None:
    """A chain whose latest durable step was rejected while no submit is in doubt: (its key, the step)."""
    storage = Storage(str(out))
    if not (out / "results").exists() or read_journal(storage).intents:
        return None
    for chain, rows in chains(out).items():
        last = rows[-1]
        step = int(last["attempt"][0])
        if last["status"][0] == "succeeded" and last["accepted"][0] is False and step < 3:
            return chain, step
    return None


def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `retouch` subprocess: the test session's Prefect API (starting one costs ~15 s)."""
    return {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }


def cli_run(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`retouch run CONFIG --limit ROWS` in its own process group (so a kill takes its children too)."""
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", str(config), "--limit", str(ROWS)],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 240.0) -> None:
    """Poll `condition` (a real process is being watched: there is no clock to inject)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")
