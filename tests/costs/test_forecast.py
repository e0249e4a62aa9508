"""Forecasts: totals over a streamed job set, unknown prices, duration estimates from rate limits."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from tasks.core.config import ProviderSettings, parse_config
from tasks.core.models import EditJob
from tasks.costs import (
    Forecast,
    PriceTable,
    forecast,
    load_price_table,
    read_forecast,
    requests_per_job,
    write_forecast,
)
from tasks.reports import forecast_markdown
from tasks.storage.fs import Storage
from tests.costs.kit import TODAY, make_job

SETTINGS = {
    "pixapi.edits": ProviderSettings.model_validate({"rate_limit": {"requests": 10, "period": 1}}),
    "fashn.edit": ProviderSettings.model_validate(
        {"rate_limit": {"requests": 62, "period": 1, "max_in_flight": 6}, "poll_interval": 2}
    ),
    "local": ProviderSettings.model_validate({}),
}


def jobs_stream(rows: int) -> Iterator[EditJob]:
    """Per row: two Pixapi variants (gpt-image-2 2K medium x2, nano-banana) and one FASHN 4k job."""
    for row in range(rows):
        rid = f"r{row}"
        yield make_job("pixapi.edits", "gpt-image-2", params={"size": "2048x2048", "quality": "medium"}, count=2,
                       variant="hero", key=f"{rid}-hero", row_id=rid)  # fmt: skip
        yield make_job("pixapi.edits", "nano-banana", variant="quick", key=f"{rid}-quick", row_id=rid)
        yield make_job("fashn.edit", None, params={"resolution": "4k"}, variant="fashn", key=f"{rid}-f", row_id=rid)


def test_totals_per_provider_model_variant(table: PriceTable) -> None:
    result = forecast(jobs_stream(1000), table, SETTINGS, TODAY)
    groups = {(g.provider, g.model, g.variant): g for g in result.groups}
    hero = groups["pixapi.edits", "gpt-image-2", "hero"]
    assert (hero.jobs, hero.images, hero.credits) == (1000, 2000, 34_000)  # 17 credits x 2 images x 1000
    quick = groups["pixapi.edits", "gemini-2.5-flash-image", "quick"]  # the alias is priced as its model
    assert (quick.jobs, quick.images, quick.credits) == (1000, 1000, 2000)
    fashn = groups["fashn.edit", "edit", "fashn"]
    assert (fashn.credits, fashn.money) == (5000, pytest.approx(50.0))
    assert (result.jobs, result.images, result.unknown_jobs) == (3000, 4000, 0)
    assert result.known_credits == 41_000
    assert result.known_money == pytest.approx(410.0)
    frame = result.to_frame()
    assert frame.height == 3 and frame.get_column("credits").sum() == 41_000
    by_provider = result.by_provider()
    assert by_provider["pixapi.edits"].credits == 36_000


def test_memory_stays_flat_over_a_long_stream(table: PriceTable) -> None:
    tracemalloc.start()
    try:
        result = forecast(jobs_stream(10_000), table, SETTINGS, TODAY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.jobs == 30_000
    assert peak < 2_000_000  # holding the 30,000 jobs alone would take well over 10 MB


def test_unknown_prices_are_shown_as_unknown_never_zero() -> None:
    table = load_price_table({"allow_unknown": True})
    jobs = [make_job("pixapi.edits", "dall-e-9", variant="mystery", key=f"m{i}") for i in range(3)]
    jobs.append(make_job("local", None, variant="free", key="l0"))
    result = forecast(jobs, table, SETTINGS, TODAY)
    mystery = next(g for g in result.groups if g.variant == "mystery")
    assert (mystery.unknown_jobs, mystery.credits, mystery.money) == (3, None, None)
    frame = result.to_frame()
    row = frame.filter(frame["variant"] == "mystery").to_dicts()[0]
    assert row["credits"] is None and row["unknown_jobs"] == 3
    text = forecast_markdown(result)
    mystery_line = next(line for line in text.splitlines() if "mystery" in line)
    assert mystery_line.endswith("| 3 | 3 | unknown | unknown | 3 |")
    assert "3 jobs without a known price: their cost is unknown, not zero." in text
    total_line = next(line for line in text.splitlines() if "**total**" in line)
    assert "unknown" in total_line


def test_unknown_price_stops_the_forecast_unless_allowed(table: PriceTable) -> None:
    from tasks.core.errors import UnknownPrice

    with pytest.raises(UnknownPrice, match="dall-e-9"):
        forecast([make_job("pixapi.edits", "dall-e-9")], table, SETTINGS, TODAY)


def test_duration_from_rate_limit_and_in_flight_cap(table: PriceTable) -> None:
    jobs = [make_job("pixapi.edits", "nano-banana", key=f"p{i}") for i in range(100)]
    jobs += [make_job("fashn.edit", None, key=f"f{i}") for i in range(60)]
    result = forecast(jobs, table, SETTINGS, TODAY, latency={"pixapi.edits": 20.0, "fashn.edit": 60.0})
    durations = {d.provider: d for d in result.durations}
    pixapi = durations["pixapi.edits"]
    # sync: 1 request per job; 10 requests/s -> 10 jobs/s; 100 jobs / 10 + 20 s latency of the last.
    assert (pixapi.requests_per_job, pixapi.bound_by, pixapi.seconds) == (1, "rate_limit", pytest.approx(30.0))
    fashn = durations["fashn.edit"]
    # async: 1 submit + 60/2 polls = 31 requests; rate allows 2 jobs/s but 6 in flight x 60 s allow 0.1/s.
    assert (fashn.requests_per_job, fashn.requests) == (31, 1860)
    assert (fashn.bound_by, fashn.seconds) == ("max_in_flight", pytest.approx(660.0))
    assert result.seconds == pytest.approx(660.0)  # providers run side by side
    assert "0:11:00" in forecast_markdown(result)


def test_executor_concurrency_can_be_the_bound(table: PriceTable) -> None:
    jobs = [make_job("pixapi.edits", "nano-banana", key=f"p{i}") for i in range(40)]
    result = forecast(jobs, table, SETTINGS, TODAY, latency={"pixapi.edits": 10.0}, concurrency=4)
    (estimate,) = result.durations
    assert (estimate.bound_by, estimate.seconds) == ("concurrency", pytest.approx(110.0))


def test_no_configured_limit_is_unbounded_and_settings_mode_wins(table: PriceTable) -> None:
    jobs = [make_job("pixapi.edits", "nano-banana", key=f"p{i}") for i in range(5)]
    free = {"pixapi.edits": ProviderSettings.model_validate({"mode": "async", "poll_interval": 4})}
    result = forecast(jobs, table, free, TODAY, latency={"pixapi.edits": 10.0})
    (estimate,) = result.durations
    assert (estimate.mode, estimate.requests_per_job, estimate.seconds) == ("async", 4, None)
    assert result.seconds is None
    assert "unbounded" in forecast_markdown(result)


def test_a_provider_the_config_leaves_unset_is_forecast_at_its_documented_defaults(table: PriceTable) -> None:
    config = parse_config(
        {
            "catalog": {"uri": "c.parquet"},
            "output": {"uri": "out"},
            "edits": [{"name": "e", "provider": "picsart.edit"}],
        }
    )
    settings = {"picsart.edit": config.provider_settings("picsart.edit")}  # defaults merged once, at load
    result = forecast([make_job("picsart.edit", None, count=2)], table, settings, TODAY)
    (estimate,) = result.durations
    assert estimate.bound_by == "rate_limit"  # 500 requests/min from configs/provider-defaults.yaml


def test_requests_per_job() -> None:
    assert requests_per_job("local", 5, 1) == 0
    assert requests_per_job("sync", 5, 1) == 1
    assert requests_per_job("async", 0.1, 2) == 2  # at least one poll
    assert requests_per_job("async", 7, 2) == 5


def test_round_trips_through_json_and_parquet(table: PriceTable, tmp_path: object) -> None:
    result = forecast(jobs_stream(3), table, SETTINGS, TODAY)
    assert Forecast.from_dict(result.to_dict()) == result
    storage = Storage("memory://forecast-roundtrip")
    write_forecast(storage, result, run_id="run-1")
    frame = read_forecast(storage, run_id="run-1")
    assert frame is not None and frame.equals(result.to_frame())
    assert read_forecast(storage, run_id="nope") is None


def test_a_forecast_with_nothing_to_run_costs_zero_not_unknown() -> None:
    from datetime import date

    from tasks.costs import Forecast

    markdown = forecast_markdown(Forecast(at=date(2026, 1, 1), currency="USD", groups=(), durations=()))
    assert "unknown" not in markdown.split("total")[1].split("\n")[0] and "0" in markdown
