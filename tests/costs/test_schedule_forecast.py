"""The schedule forecast: cron runs × the change rate the manifests show × the price table, per provider and month."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.config import load_config
from tasks.core.errors import ConfigError
from tasks.costs import load_price_table
from tasks.costs.schedule import VariantLine, parse_horizon, project_schedule, scheduled_runs
from tasks.pipeline.manifest import RunSummary
from tasks.pipeline.refresh import RefreshSchedule
from tasks.pipeline.schedule_forecast import forecast_schedule
from tasks.sandbox import SandboxServer, SandboxSettings
from tasks.storage.fs import Storage
from tests.cli.kit import invoke
from tests.helpers import local_config, make_png, write_config

DAILY = "0 3 * * *"
CENT_PER_JOB = {
    "providers": {
        "local": {
            "credit_value": [{"effective_from": "2000-01-01", "money": 0.01}],
            "models": {"default": [{"effective_from": "2000-01-01", "per": "request", "credits": 1}]},
        }
    }
}


def line(**overrides: Any) -> VariantLine:
    values: dict[str, Any] = {"variant": "v", "provider": "local", "model": None, "params": {}, "count": 1}
    return VariantLine(**{**values, **overrides})


def test_runs_follow_the_cron_and_split_by_month() -> None:
    start = datetime(2026, 11, 29, tzinfo=UTC)
    runs = scheduled_runs(DAILY, start, start + parse_horizon("5d"))
    assert [run.day for run in runs] == [29, 30, 1, 2, 3] and all(run.hour == 3 for run in runs)
    table = load_price_table(CENT_PER_JOB)
    projection = project_schedule(DAILY, start, start + timedelta(days=5), [line(observed=(10, 10, 10))], table)
    assert [(item.month, item.runs, item.jobs) for item in projection.lines] == [("2026-11", 2, 20), ("2026-12", 3, 30)]
    assert projection.money == pytest.approx((0.5, 0.5, 0.5))


def test_without_history_the_first_run_does_the_backlog_and_the_range_stays_open() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    table = load_price_table(CENT_PER_JOB)
    projection = project_schedule(DAILY, start, start + timedelta(days=10), [line(backlog=100, fallback_high=5)], table)
    low, expected, high = projection.money
    assert (low, expected) == pytest.approx((1.0, 1.0))  # the backlog, then nothing seen to expect
    assert high == pytest.approx(1.0 + 10 * 5 * 0.01)  # each run may bring up to the guess
    few = project_schedule(DAILY, start, start + timedelta(days=10), [line(observed=(4,))], table)
    assert few.money == pytest.approx((0.0, 0.4, 0.8))  # one refresh seen: 0 to twice it


def test_bad_cron_and_horizon_name_what_is_expected() -> None:
    with pytest.raises(ConfigError, match="not a cron expression"):
        scheduled_runs("0 3 * *", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match="30d, 12h, 2w"):
        parse_horizon("a month")


def grow(folder: Path, rows: int) -> None:
    """The catalog with `rows` more rows than it has (all rows when there is none yet)."""
    path = folder / "catalog.parquet"
    old = pl.read_parquet(path) if path.exists() else None
    start = old.height if old is not None else 0
    added = []
    for index in range(start, start + rows):
        make_png(folder / "images" / f"item-{index}.png", seed=index)
        added.append({"sku": f"S{index}", "src": f"images/item-{index}.png", "instruction": "brightness 1.1"})
    pl.concat([frame for frame in (old, pl.DataFrame(added)) if frame is not None]).write_parquet(path)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings.model_validate({"picsart": {"async_seconds": 0.05}})) as server:
        yield server


@pytest.mark.usefixtures("prefect_harness")
def test_projected_month_is_within_ten_percent_of_what_the_next_runs_cost(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    edits = [{"name": "pe", "provider": "picsart.edit", "params": {"format": "PNG"}, "seeds": [1]}]
    settings = {
        "base_url": f"{sandbox.base_url}/picsart/v1", "mode": "async", "api_key": "${RETOUCH_TEST_KEY:-sandbox-key}",
        "poll_interval": 0.05, "retry": {"attempts": 3, "base": 0.01, "cap": 0.05},
    }  # fmt: skip
    raw = local_config(tmp_path / "catalog.parquet", tmp_path / "out", edits, providers={"picsart.edit": settings})
    config = write_config(tmp_path, raw)
    schedule = RefreshSchedule(cron=DAILY)

    def refresh(new_rows: int) -> RunSummary:
        grow(tmp_path, new_rows)
        return edit_catalog(str(config), schedule=schedule)

    refresh(20)  # the backfill, then three refreshes bringing 10% new rows each
    for _ in range(3):
        assert refresh(2).counts == {"succeeded": 2}
    loaded = load_config(config)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    month = forecast_schedule(loaded, Storage(loaded.output.uri), DAILY, start=start, horizon=timedelta(days=30))
    assert month.refreshes_seen == 3 and len(month.runs) == 30
    low, expected, high = month.money
    assert expected is not None and low is not None and high is not None and low <= expected <= high

    spent = [refresh(2).cost for _ in range(2)]  # what the next refreshes then cost (the sandbox's bill)
    assert all(cost > 0 for cost in spent)
    actual_month = sum(spent) / len(spent) * len(month.runs)
    assert expected == pytest.approx(actual_month, rel=0.10)

    published = tmp_path / "out" / "reports"
    assert len(list(published.glob("*/schedule-forecast.md"))) == 6  # every scheduled run published one
    result = invoke("forecast", str(config), "--schedule", DAILY, "--horizon", "30d")
    assert result.exit_code == 0, result.output
    assert "Schedule forecast" in result.output and "refreshes" in result.output
