"""Retry policy on a fake clock: what is retried, how long it waits, and when it gives up."""

from __future__ import annotations

import asyncio
import pickle
import random
from collections.abc import Awaitable, Callable

import pytest

from tasks.core.errors import (
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
)
from tasks.http.retry import NO_WAIT, AttemptLog, RetryPolicy, retry_call

STEADY = RetryPolicy(base=1, cap=30, jitter=0)


def _failing(*errors: BaseException, result: str = "ok") -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises `errors` in turn, then returns `result`; and the list counting its calls."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return call, calls


def _run(call: Callable[[], Awaitable[str]], policy: RetryPolicy, clock, **kwargs) -> tuple[str, AttemptLog]:
    return asyncio.run(retry_call(call, policy, clock=clock, rng=random.Random(0), **kwargs))


def test_retryable_errors_are_retried_until_success(clock) -> None:
    first, second = ProviderUnavailable("503"), ProviderTimeout("slow")
    call, _calls = _failing(first, second)

    result, log = _run(call, STEADY, clock)

    assert result == "ok"
    assert log == AttemptLog(attempts=3, last_error=second, waited=3.0)
    assert clock.slept == [1.0, 2.0]


@pytest.mark.parametrize(
    "error",
    [InvalidRequest("bad field"), SubmitOutcomeUnknown("no answer"), ValueError("a bug")],
    ids=["permanent", "submit-outcome-unknown", "not-ours"],
)
def test_other_errors_are_raised_at_once(clock, error: Exception) -> None:
    call, calls = _failing(error)

    with pytest.raises(type(error)) as raised:
        _run(call, STEADY, clock)

    assert raised.value is error
    assert calls == [1]
    assert clock.slept == []


def test_the_final_error_records_its_attempts(clock) -> None:
    errors = [RateLimited(f"429 #{i}", provider="picsart") for i in range(5)]
    call, calls = _failing(*errors)

    with pytest.raises(RateLimited) as raised:
        _run(call, STEADY, clock)

    assert raised.value is errors[-1]
    assert raised.value.context == {"provider": "picsart", "attempts": 5}
    assert raised.value.attempts == 5
    assert pickle.loads(pickle.dumps(raised.value)).attempts == 5
    assert calls == [1, 2, 3, 4, 5]


def test_a_permanent_error_records_one_attempt(clock) -> None:
    call, _ = _failing(InvalidRequest("bad size"))

    with pytest.raises(InvalidRequest) as raised:
        _run(call, STEADY, clock)

    assert raised.value.attempts == 1


def test_retry_after_wins_over_the_backoff_and_its_cap(clock) -> None:
    call, _ = _failing(RateLimited("429", retry_after=45), RateLimited("429", retry_after=0))

    _, log = _run(call, RetryPolicy(base=1, cap=30, jitter=0.25), clock)

    assert clock.slept == [45]
    assert log.waited == 45


def test_a_retry_after_past_the_total_budget_gives_up_without_waiting(clock) -> None:
    call, calls = _failing(RateLimited("429", retry_after=301))

    with pytest.raises(RateLimited):
        _run(call, STEADY, clock)

    assert calls == [1]
    assert clock.slept == []


def test_waits_double_up_to_the_cap(clock) -> None:
    call, _ = _failing(*(ProviderUnavailable("503") for _ in range(6)))

    with pytest.raises(ProviderUnavailable):
        _run(call, RetryPolicy(attempts=6, base=1, cap=3, jitter=0), clock)

    assert clock.slept == [1, 2, 3, 3, 3]


def test_the_total_budget_counts_time_spent_in_calls_too(clock) -> None:
    calls = 0

    async def slow_failure() -> str:
        nonlocal calls
        calls += 1
        await clock.sleep(2)
        raise ProviderTimeout("no answer")

    with pytest.raises(ProviderTimeout) as raised:
        _run(slow_failure, RetryPolicy(attempts=10, base=1, jitter=0, total=10), clock)

    # 2 + wait 1 + 2 + wait 2 + 2 = 9 s; a further wait of 4 would pass 10.
    assert calls == 3
    assert raised.value.attempts == 3
    assert clock.now == 9


def test_jitter_is_bounded_and_repeatable_with_a_seed() -> None:
    policy = RetryPolicy(base=0.5, cap=30, jitter=0.25)
    error = ProviderUnavailable("503")

    def waits(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [policy.wait_for(attempt, error, rng) for attempt in range(1, 9)]

    for attempt, wait in enumerate(waits(7), start=1):
        computed = 0.5 * 2 ** (attempt - 1)
        assert min(computed, 30) <= wait <= min(computed + 0.25, 30)
    assert waits(7) == waits(7)
    assert waits(7) != waits(8)


def test_retry_on_narrows_what_is_retried(clock) -> None:
    call, calls = _failing(ProviderTimeout("read timeout on a submit"))

    with pytest.raises(ProviderTimeout):
        _run(call, STEADY, clock, retry_on=lambda error: not isinstance(error, ProviderTimeout))

    assert calls == [1]


def test_retry_on_cannot_widen_what_is_retried(clock) -> None:
    call, calls = _failing(SubmitOutcomeUnknown("may have been billed"))

    with pytest.raises(SubmitOutcomeUnknown):
        _run(call, STEADY, clock, retry_on=lambda error: True)

    assert calls == [1]


def test_on_retry_hears_each_retry_before_its_wait(clock) -> None:
    errors = (ProviderUnavailable("503"), RateLimited("429", retry_after=4))
    call, _ = _failing(*errors)
    heard: list[tuple[int, BaseException, float, float]] = []

    _run(call, STEADY, clock, on_retry=lambda n, error, wait: heard.append((n, error, wait, clock.now)))

    assert heard == [(1, errors[0], 1.0, 0.0), (2, errors[1], 4.0, 1.0)]


def test_no_wait_never_sleeps_even_when_asked_to(clock) -> None:
    errors = [RateLimited("429", retry_after=60), ProviderUnavailable("503"), ProviderTimeout("slow")]
    call, _calls = _failing(*errors)

    result, log = _run(call, NO_WAIT, clock)

    assert (result, log.attempts, log.waited) == ("ok", 4, 0.0)
    assert clock.slept == []


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"base": -1}, {"cap": -1}, {"jitter": -0.1}, {"total": -1}])
def test_a_policy_rejects_values_out_of_range(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**bad)  # type: ignore[arg-type]
