"""The rate limiter on a fake clock: exact rate, FIFO, bursts, in-flight caps, 429 pauses and AIMD."""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import threading

import pytest

from tasks.http.limiter import LimiterRegistry, RateLimit, RateLimiter, SystemClock


async def _grant_times(limiter: RateLimiter, clock, workers: int, each: int) -> list[float]:
    """`workers` tasks each acquire `each` times back to back; the virtual times of the grants."""
    times: list[float] = []

    async def worker() -> None:
        for _ in range(each):
            async with limiter.slot():
                times.append(clock.monotonic())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return times


def _per_window(times: list[float], window: float) -> collections.Counter[int]:
    return collections.Counter(math.floor(t / window) for t in times)


def test_rate_is_held_exactly_under_many_waiters(clock) -> None:
    limiter = RateLimiter(RateLimit(8), clock=clock)  # 1/8 s apart: exact in binary

    times = asyncio.run(_grant_times(limiter, clock, workers=50, each=4))

    counts = _per_window(times, 1.0)
    assert sorted(counts) == list(range(25))
    assert set(counts.values()) == {8}
    assert limiter.stats.granted == 200


def test_a_per_minute_limit_is_held_and_nearly_filled(clock) -> None:
    limit = RateLimit(500, period=60)  # Picsart
    limiter = RateLimiter(limit, clock=clock)

    times = asyncio.run(_grant_times(limiter, clock, workers=50, each=30))

    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(60 / 500)
    for minute, count in _per_window([t + 1e-9 for t in times], 60).items():
        assert 0.95 * 500 <= count <= 500, (minute, count)


def test_waiters_are_served_in_arrival_order(clock) -> None:
    limiter = RateLimiter(RateLimit(10, max_in_flight=3), clock=clock)
    served: list[int] = []

    async def request(i: int) -> None:
        async with limiter.slot():
            served.append(i)
            await clock.sleep(0.35)

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(30)))

    asyncio.run(main())
    assert served == list(range(30))


def test_a_burst_is_capped_even_after_a_long_idle(clock) -> None:
    limiter = RateLimiter(RateLimit(10, burst=3), clock=clock)

    async def main() -> list[float]:
        first = await _grant_times(limiter, clock, workers=5, each=1)
        await clock.sleep(100)
        return first + await _grant_times(limiter, clock, workers=5, each=1)

    times = asyncio.run(main())
    assert times[:5] == pytest.approx([0, 0, 0, 0.1, 0.2])
    assert times[5:] == pytest.approx([100.2, 100.2, 100.2, 100.3, 100.4])


def test_the_default_burst_is_small() -> None:
    assert RateLimit(500, period=60).capacity == 1
    assert RateLimit(10).capacity == 1
    assert RateLimit(100).capacity == 10
    assert RateLimit(100, burst=1).capacity == 1


def test_max_in_flight_is_never_exceeded(clock) -> None:
    limiter = RateLimiter(RateLimit(100, max_in_flight=4), clock=clock)
    now_in_flight, peak = 0, 0

    async def request(i: int) -> None:
        nonlocal now_in_flight, peak
        async with limiter.slot():
            now_in_flight += 1
            peak = max(peak, now_in_flight)
            await clock.sleep(0.1 + (i % 7) * 0.05)
            now_in_flight -= 1

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(40)))

    asyncio.run(main())
    assert peak == 4
    assert limiter.stats.peak_in_flight == 4
    assert limiter.in_flight == 0


def test_each_grant_costs_at_most_one_sleep(clock) -> None:
    limiter = RateLimiter(RateLimit(100), clock=clock)

    asyncio.run(_grant_times(limiter, clock, workers=50, each=10))

    assert len(clock.slept) <= 500  # one computed wait per acquire, no polling


def test_a_429_pauses_everyone_until_retry_after_then_slows_down(clock) -> None:
    limiter = RateLimiter(RateLimit(10), clock=clock)

    async def rate_limited_at(when: float) -> None:
        await clock.sleep(when)
        limiter.on_rate_limited(3.0)

    async def latecomer() -> float:
        await clock.sleep(2.0)
        await limiter.acquire()
        return clock.now

    async def main() -> tuple[list[float], float]:
        answer = asyncio.ensure_future(rate_limited_at(1.05))
        late = asyncio.ensure_future(latecomer())
        times = await _grant_times(limiter, clock, workers=50, each=1)
        await answer
        return times, await late

    times, late = asyncio.run(main())
    assert late == pytest.approx(max(times) + 1 / 7)  # queued behind the paused ones
    before = [t for t in times if t <= 1.05]
    after = [t for t in times if t > 1.05]
    assert len(before) == 11  # 0.0 .. 1.0
    assert after[0] == pytest.approx(4.05)
    assert [b - a for a, b in itertools.pairwise(after)] == pytest.approx([1 / 7] * (len(after) - 1))
    assert limiter.current_rate == pytest.approx(7)
    assert limiter.stats.rate_limited == 1
    assert limiter.stats.pauses == 1


def test_429s_during_a_pause_join_it_without_lowering_the_rate_again(clock) -> None:
    limiter = RateLimiter(RateLimit(10), clock=clock)

    limiter.on_rate_limited(2.0)
    limiter.on_rate_limited(None)  # an echo: keeps the pause
    limiter.on_rate_limited(5.0)  # an echo that says to wait longer: lengthens it

    assert limiter.current_rate == pytest.approx(7)
    assert limiter.stats.rate_limited == 3
    assert limiter.stats.pauses == 1
    asyncio.run(limiter.acquire())
    assert clock.now == pytest.approx(5.0)


def test_a_429_without_retry_after_backs_off_over_consecutive_pauses(clock) -> None:
    limiter = RateLimiter(RateLimit(1000, burst=1000), clock=clock)

    async def paused_for() -> float:
        start = clock.now
        limiter.on_rate_limited(None)
        await limiter.acquire()
        limiter.release()
        return clock.now - start

    assert asyncio.run(paused_for()) == pytest.approx(1.0)
    assert asyncio.run(paused_for()) == pytest.approx(2.0)
    limiter.on_success()
    assert asyncio.run(paused_for()) == pytest.approx(1.0)


def test_successes_recover_the_configured_rate_and_no_more(clock) -> None:
    limiter = RateLimiter(RateLimit(10), clock=clock)
    limiter.on_rate_limited(0.0)
    assert limiter.current_rate == pytest.approx(7)

    for _ in range(11):
        limiter.on_success()
    assert limiter.current_rate == pytest.approx(9.0)  # quickly back to 90% of the rate that failed
    for _ in range(10):
        limiter.on_success()
    assert limiter.current_rate == pytest.approx(9.0 + 10 * 0.005)  # then only probing above it
    for _ in range(400):
        limiter.on_success()
    assert limiter.current_rate == 10

    async def main() -> list[float]:
        await clock.sleep(1)
        return await _grant_times(limiter, clock, workers=5, each=2)

    times = asyncio.run(main())
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([0.1] * 9)


def test_the_rate_never_drops_below_its_floor(clock) -> None:
    limiter = RateLimiter(RateLimit(10, min_rate_fraction=0.2), clock=clock)

    for _ in range(20):
        limiter.on_rate_limited(1.0)
        clock.now += 2.0  # past the pause: the next 429 starts a new one

    assert limiter.current_rate == pytest.approx(2.0)
    assert limiter.stats.pauses == 20


def test_a_cancelled_waiter_gives_its_slot_up(clock) -> None:
    limiter = RateLimiter(RateLimit(100, max_in_flight=1), clock=clock)

    async def main() -> None:
        await limiter.acquire()
        waiting = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        limiter.release()
        assert limiter.in_flight == 0
        await asyncio.wait_for(limiter.acquire(), 1)  # free at once
        limiter.release()

    asyncio.run(main())


def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_is_passed_on(clock) -> None:
    limiter = RateLimiter(RateLimit(100, max_in_flight=1), clock=clock)

    async def main() -> None:
        await limiter.acquire()
        waiting = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        limiter.release()  # hands the slot to `waiting`...
        waiting.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert limiter.in_flight == 0

    asyncio.run(main())


def test_cancelling_during_the_rate_wait_frees_the_slot(clock) -> None:
    limiter = RateLimiter(RateLimit(1, max_in_flight=5), clock=clock)

    async def main() -> None:
        await limiter.acquire()  # takes the only token of the first second
        waiting = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert limiter.in_flight == 2
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert limiter.in_flight == 1

    asyncio.run(main())


def test_release_without_acquire_is_an_error(clock) -> None:
    with pytest.raises(RuntimeError, match="without a matching acquire"):
        RateLimiter(RateLimit(1), clock=clock).release()


@pytest.mark.parametrize(
    "bad",
    [
        {"requests": 0},
        {"requests": 1, "period": 0},
        {"requests": 1, "max_in_flight": 0},
        {"requests": 1, "burst": 0},
        {"requests": 1, "min_rate_fraction": 0},
    ],
)
def test_a_rate_limit_rejects_values_out_of_range(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="out of range"):
        RateLimit(**bad)


def test_the_registry_keeps_one_limiter_per_provider(clock) -> None:
    registry = LimiterRegistry(clock=clock)
    picsart = registry.get("picsart", RateLimit(500, period=60))

    assert registry.get("picsart", RateLimit(500, period=60)) is picsart
    assert registry.get("fashn", RateLimit(10, max_in_flight=6)) is not picsart
    assert picsart.name == "picsart"
    with pytest.raises(ValueError, match="already has a limiter"):
        registry.get("picsart", RateLimit(100))
    registry.discard("picsart")
    assert registry.get("picsart", RateLimit(100)) is not picsart


def test_threads_with_their_own_loops_share_the_in_flight_cap() -> None:
    limiter = RateLimiter(RateLimit(2000, max_in_flight=3, burst=10), clock=SystemClock())
    guard = threading.Lock()
    now_in_flight, peak, errors = 0, 0, []

    async def request() -> None:
        nonlocal now_in_flight, peak
        async with limiter.slot():
            with guard:
                now_in_flight += 1
                peak = max(peak, now_in_flight)
            await asyncio.sleep(0.002)
            with guard:
                now_in_flight -= 1

    def shard() -> None:
        async def run() -> None:
            await asyncio.wait_for(asyncio.gather(*(request() for _ in range(20))), 5)

        try:
            asyncio.run(run())
        except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=shard) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert peak <= 3
    assert limiter.stats.peak_in_flight <= 3
    assert limiter.stats.granted == 40
    assert limiter.in_flight == 0


def test_a_limit_set_too_high_converges_on_the_real_one(clock) -> None:
    """Told 10/s where a server's token bucket allows 7/s (burst 3): after 30 s of virtual time fewer
    than 2% of requests are refused, and the rate sent stays close under the real limit."""
    limiter = RateLimiter(RateLimit(10), clock=clock)
    real, capacity = 7.0, 3.0
    now = last = 0.0
    tokens = capacity
    late_sent = late_refused = 0
    while now < 300:
        now += 1 / limiter.current_rate
        clock.now = now
        tokens, last = min(capacity, tokens + (now - last) * real), now
        refused = tokens < 1
        if refused:
            limiter.on_rate_limited(1 / real)
            now += 1 / real  # the pause the server asked for
            clock.now = now
        else:
            tokens -= 1
            limiter.on_success()
        if now > 30:
            late_sent += 1
            late_refused += refused
    assert late_refused / late_sent < 0.02
    assert late_sent / 270 > 0.85 * real
