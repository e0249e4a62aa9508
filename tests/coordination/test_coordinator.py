"""The run's coordinator in one process, on a clock the tests move: shares, back-off, deaths and budget blocks."""

from __future__ import annotations

import pytest

from tasks.coordination import Amount, Coordinator, ProviderLimit, Report, Usage
from tasks.core.config import BudgetConfig

PICSART = "picsart.edit"
FASHN = "fashn.edit"
LIMITS = {PICSART: ProviderLimit(10.0), FASHN: ProviderLimit(20.0, max_in_flight=6)}
BOTH = frozenset({PICSART, FASHN})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def coordinator(clock: Clock, budget: BudgetConfig | None = None) -> Coordinator:
    return Coordinator(LIMITS, budget or BudgetConfig(), ttl=3.0, clock=clock)


def refresh(hub: Coordinator, member: str, active: frozenset[str] = BOTH, **usage: Usage):  # type: ignore[no-untyped-def]
    return hub.refresh(Report(member, active, {name.replace("_", "."): u for name, u in usage.items()}))


def test_shares_never_add_up_past_the_limit_as_members_come_and_go(clock: Clock) -> None:
    hub = coordinator(clock)
    assert refresh(hub, "a").shares[PICSART].requests == 10.0
    assert refresh(hub, "b").shares[PICSART].requests == 0.0  # no room until a shrinks
    assert refresh(hub, "a").shares[PICSART].requests == 5.0
    assert refresh(hub, "b").shares[PICSART].requests == 5.0
    inflight = [refresh(hub, name).shares[FASHN].in_flight for name in ("a", "b")]
    assert inflight == [3, 3]
    hub.leave(Report("b"))
    assert refresh(hub, "a").shares[PICSART].requests == 10.0
    assert refresh(hub, "a").shares[FASHN].in_flight == 6


def test_only_members_with_shards_of_a_provider_share_it(clock: Clock) -> None:
    hub = coordinator(clock)
    refresh(hub, "a")
    grant = refresh(hub, "b", active=frozenset({FASHN}))
    assert grant.shares[PICSART].requests == 0.0 and grant.shares[FASHN].in_flight == 3
    assert refresh(hub, "a").shares[PICSART].requests == 10.0  # b sends nothing to Picsart


def test_a_429_seen_by_one_member_slows_and_pauses_every_member(clock: Clock) -> None:
    hub = coordinator(clock)
    for name in ("a", "b", "a", "b"):
        refresh(hub, name)
    refresh(hub, "a", picsart_edit=Usage(retry_afters=(2.0,)))
    grant = refresh(hub, "b")
    assert grant.shares[PICSART].pause == 2.0
    assert refresh(hub, "a").shares[PICSART].requests + grant.shares[PICSART].requests <= 7.0 + 1e-9
    clock.now += 2.5
    refresh(hub, "a", picsart_edit=Usage(successes=200))
    assert hub.state().rates[PICSART] > 7.0  # successes anywhere bring the rate back up


def test_a_silent_member_is_taken_for_dead_and_its_shares_return(clock: Clock) -> None:
    hub = coordinator(clock, BudgetConfig(max_credits=100))
    for name in ("a", "b", "a", "b"):
        refresh(hub, name)
    assert hub.take_block("b", PICSART, Amount(8, 0), Amount(1, 0)) == Amount(8, 0)
    hub.refresh(Report("b", BOTH, {}, {PICSART: Amount(2, 0)}, {PICSART: Amount(3, 0)}))
    clock.now += 2.0
    refresh(hub, "a")  # a keeps reporting; b has gone silent
    clock.now += 1.5
    grant = refresh(hub, "a")
    assert grant.shares[PICSART].requests == 10.0 and grant.shares[FASHN].in_flight == 6
    state = hub.state()
    assert state.died == ("b",) and state.members == ("a",)
    assert state.committed == Amount(5, 0)  # spent 2 + 3 in flight (maybe billed); 3 unused came back
    assert hub.refresh(Report("b")).expired  # it must drop its blocks and join again


def test_budget_blocks_shrink_near_a_cap_and_stop_short_of_it(clock: Clock) -> None:
    hub = coordinator(clock, BudgetConfig(max_credits=20))
    job = Amount(2, 0)
    assert hub.take_block("a", PICSART, job.scaled(8), job) == Amount(16, 0)
    assert hub.take_block("b", PICSART, job.scaled(8), job) == Amount(4, 0)  # what is left
    refusal = hub.take_block("b", PICSART, job.scaled(8), job)
    assert isinstance(refusal, str) and "budget.max_credits=20 has 0 left" in refusal
    hub.leave(Report("a", frozenset(), {}, {PICSART: Amount(6, 0)}))  # a used 6 of its 16
    assert hub.take_block("b", PICSART, job.scaled(8), job) == Amount(10, 0)
    assert hub.state().committed == Amount(20, 0)


def test_per_provider_caps_hold_only_that_provider(clock: Clock) -> None:
    hub = coordinator(clock, BudgetConfig.model_validate({"per_provider": {FASHN: {"max_credits": 3}}}))
    assert not hub.capped(PICSART) and hub.capped(FASHN)
    assert hub.take_block("a", FASHN, Amount(8, 0), Amount(1, 0)) == Amount(3, 0)
    assert isinstance(hub.take_block("b", FASHN, Amount(8, 0), Amount(1, 0)), str)
