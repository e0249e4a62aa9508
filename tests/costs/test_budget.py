"""The budget tracker: run and provider caps, thread storms, settling with provider-reported credits."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tasks.core.config import BudgetConfig, ProviderSettings
from tasks.core.errors import UnknownPrice
from tasks.costs import BudgetTracker, PriceTable, forecast, load_price_table
from tests.costs.kit import TODAY, make_job


def budget(**fields: Any) -> BudgetConfig:
    return BudgetConfig.model_validate(fields)


def banana(key: str) -> Any:
    """A job quoted at 2 credits (0.02 USD)."""
    return make_job("pixapi.edits", "nano-banana", key=key)


def test_run_credit_cap(table: PriceTable) -> None:
    tracker = BudgetTracker(budget(max_credits=5), table, at=TODAY)
    assert tracker.reserve(banana("a"))
    assert tracker.reserve(banana("b"))
    refused = tracker.reserve(banana("c"))
    assert not refused
    assert refused.reason is not None
    assert "budget.max_credits=5 has 1 left (4 spent or reserved)" in refused.reason
    assert "would cost 2 credits on pixapi.edits" in refused.reason
    assert tracker.reserved.credits == 4


def test_run_money_cap_exact_fit(table: PriceTable) -> None:
    tracker = BudgetTracker(budget(max_money=0.06), table, at=TODAY)
    granted = [bool(tracker.reserve(banana(f"k{i}"))) for i in range(5)]
    assert granted == [True, True, True, False, False]  # 3 x 0.02 fits exactly despite float sums
    assert "budget.max_money" in (tracker.reserve(banana("z")).reason or "")


def test_per_provider_cap_leaves_other_providers_alone(table: PriceTable) -> None:
    tracker = BudgetTracker(budget(per_provider={"pixapi.edits": {"max_credits": 4}}), table, at=TODAY)
    assert tracker.reserve(banana("a")) and tracker.reserve(banana("b"))
    refused = tracker.reserve(banana("c"))
    assert not refused and "budget.per_provider.pixapi.edits.max_credits=4" in (refused.reason or "")
    assert all(tracker.reserve(make_job("fashn.edit", None, key=f"f{i}")) for i in range(10))


def test_settle_uses_provider_reported_credits(table: PriceTable) -> None:
    tracker = BudgetTracker(budget(max_credits=30), table, at=TODAY)
    job = make_job("pixapi.edits", "gpt-image-2", key="g")  # quoted 14 (1K high)
    reservation = tracker.reserve(job)
    assert reservation and reservation.quote.credits == 14
    assert tracker.reserved.credits == 14
    cost = tracker.settle(job, reservation, actual_credits=10)
    assert (cost.credits, cost.money) == (10, pytest.approx(0.10))
    assert tracker.reserved.credits == 0
    assert tracker.spent["pixapi.edits"].credits == 10
    # 20 credits are left: one more 14-credit job fits, a second does not.
    assert tracker.reserve(make_job("pixapi.edits", "gpt-image-2", key="g2"))
    assert not tracker.reserve(make_job("pixapi.edits", "gpt-image-2", key="g3"))


def test_settle_without_a_figure_keeps_the_quote_and_release_frees(table: PriceTable) -> None:
    tracker = BudgetTracker(budget(max_credits=4), table, at=TODAY)
    first, second = banana("a"), banana("b")
    held_first, held_second = tracker.reserve(first), tracker.reserve(second)
    tracker.settle(first, held_first, actual_credits=None)
    tracker.release(held_second)  # never sent
    assert tracker.total.credits == 2 and tracker.total.jobs == 1
    assert tracker.reserved.credits == 0
    assert tracker.reserve(banana("c"))


def test_settle_a_resumed_job_that_was_never_reserved(table: PriceTable) -> None:
    tracker = BudgetTracker(budget(), table, at=TODAY)
    cost = tracker.settle(make_job("fashn.edit", None, count=3), None, actual_credits=None)
    assert cost.credits == 3
    assert tracker.spent["fashn.edit"].money == pytest.approx(0.03)


def test_reserve_storm_from_threads_never_passes_the_cap(table: PriceTable) -> None:
    tracker = BudgetTracker(
        budget(max_credits=1000, per_provider={"pixapi.edits": {"max_money": 8.0}}), table, at=TODAY
    )
    threads, per_thread = 16, 150
    start = threading.Barrier(threads)
    granted: list[int] = []
    lock = threading.Lock()

    def storm(worker: int) -> None:
        start.wait()
        mine = 0
        for index in range(per_thread):
            job = banana(f"w{worker}-{index}")
            reservation = tracker.reserve(job)
            if reservation:
                mine += 1
                if index % 3 == 0:  # settle some while others still reserve
                    tracker.settle(job, reservation, actual_credits=None)
        with lock:
            granted.append(mine)

    workers = [threading.Thread(target=storm, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(granted) == 400  # pixapi's 8.00 USD at 0.02 per job binds before the 1000-credit run cap
    committed = tracker.total.credits + tracker.reserved.credits
    assert committed == 800
    assert tracker.total.money + tracker.reserved.money == pytest.approx(8.0)


def test_unknown_price_is_refused_under_a_cap_and_granted_without() -> None:
    table = load_price_table({"allow_unknown": True})
    mystery = make_job("pixapi.edits", "dall-e-9")
    capped = BudgetTracker(budget(max_money=100), table, at=TODAY).reserve(mystery)
    assert not capped and "no known price" in (capped.reason or "")
    free = BudgetTracker(budget(), table, at=TODAY)
    reservation = free.reserve(mystery)
    assert reservation
    cost = free.settle(mystery, reservation, actual_credits=None)
    assert cost.unknown_jobs == 1 and free.total.unknown_jobs == 1
    reported = free.settle(mystery, None, actual_credits=6)  # the provider said what it cost
    assert (reported.credits, reported.money, reported.unknown_jobs) == (6, pytest.approx(0.06), 0)


def test_unknown_price_raises_when_not_allowed(table: PriceTable) -> None:
    with pytest.raises(UnknownPrice):
        BudgetTracker(budget(), table, at=TODAY).reserve(make_job("pixapi.edits", "dall-e-9"))


def test_check_forecast_names_each_cap_passed(table: PriceTable) -> None:
    jobs = [banana(f"p{i}") for i in range(10)] + [make_job("fashn.edit", None, key=f"f{i}") for i in range(10)]
    settings = {name: ProviderSettings.model_validate({}) for name in ("pixapi.edits", "fashn.edit")}
    planned = forecast(jobs, table, settings, TODAY)  # 20 + 10 credits, 0.30 USD
    tracker = BudgetTracker(
        budget(
            max_credits=25,
            max_money=1,
            per_provider={"pixapi.edits": {"max_credits": 15}, "fashn.edit": {"max_credits": 10}},
        ),
        table,
        at=TODAY,
    )
    messages = tracker.check_forecast(planned)
    assert len(messages) == 2
    assert "30.00 credits for the run exceeds budget.max_credits=25 (over by 5.00)" in messages[0]
    assert "budget.per_provider.pixapi.edits.max_credits=15" in messages[1]
    assert BudgetTracker(budget(max_credits=30), table, at=TODAY).check_forecast(planned) == []


def test_check_forecast_flags_unknown_prices_under_a_cap() -> None:
    table = load_price_table({"allow_unknown": True})
    planned = forecast([make_job("pixapi.edits", "dall-e-9")], table, {}, TODAY)
    messages = BudgetTracker(budget(max_credits=100), table, at=TODAY).check_forecast(planned)
    assert messages == [
        "forecast: 1 job for the run without a known price, so budget.max_credits cannot be checked for them"
    ]
