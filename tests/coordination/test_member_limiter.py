"""A member's limiter on a fake clock: it runs at its share, and a new share reaches requests already waiting."""

from __future__ import annotations

import asyncio
import itertools

from tasks.coordination.limiter import SharedRateLimiter
from tasks.coordination.shares import Share, Usage
from tests.fakes import FakeClock


async def _send(limiter: SharedRateLimiter, clock: FakeClock, jobs: int, times: list[float]) -> None:
    async def one() -> None:
        async with limiter.slot():
            times.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(jobs)))


def test_a_bigger_share_pulls_waiting_requests_earlier_and_a_smaller_one_spaces_them_out() -> None:
    clock = FakeClock()
    limiter = SharedRateLimiter("picsart.edit", Share(5.0, 1.0, None), clock=clock, wake=lambda: None)
    times: list[float] = []

    async def scenario() -> None:
        sending = asyncio.ensure_future(_send(limiter, clock, 20, times))
        await clock.sleep(1.0)  # 5/s: the other process still holds half the rate
        limiter.apply(Share(10.0, 1.0, None), leases=None)  # it finished: this one gets the whole rate
        await clock.sleep(1.0)
        limiter.apply(Share(2.0, 1.0, None), leases=None)  # three more joined
        await sending

    asyncio.run(scenario())
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert set(gaps[:5]) == {0.2}  # before the first change
    assert 0.1 in gaps[5:12] and max(gaps[5:12]) <= 0.2  # then 10/s for the requests already waiting
    assert set(gaps[-3:]) == {0.5}  # and 2/s after the second


def test_in_flight_slots_follow_the_leases_held() -> None:
    clock = FakeClock()
    limiter = SharedRateLimiter("fashn.edit", Share(100.0, 1.0, 2), clock=clock, wake=lambda: None)
    peaks: list[int] = []

    async def scenario() -> None:
        async def job() -> None:
            async with limiter.slot():
                peaks.append(limiter.in_flight)
                await clock.sleep(1.0)

        running = asyncio.gather(*(job() for _ in range(8)))
        await clock.sleep(0.5)
        assert limiter.in_flight == 2
        limiter.apply(Share(100.0, 1.0, 4), leases=4)  # two more leases taken on the semaphore
        await clock.sleep(0.1)
        assert limiter.in_flight == 4
        limiter.apply(Share(100.0, 1.0, 1), leases=1)  # a process joined: hold back to 1
        await running

    asyncio.run(scenario())
    assert max(peaks) == 4 and peaks[-1] == 1


def test_429s_and_successes_are_counted_for_the_report_and_wake_the_member() -> None:
    woken: list[bool] = []
    limiter = SharedRateLimiter(
        "pixapi.edits", Share(5.0, 1.0, None), clock=FakeClock(), wake=lambda: woken.append(True)
    )
    limiter.on_success()
    limiter.on_rate_limited(2.0)
    assert limiter.take_usage() == Usage(1, (2.0,)) and woken == [True]
    assert limiter.take_usage() == Usage()
