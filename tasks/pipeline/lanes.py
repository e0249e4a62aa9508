"""A shard's provider lanes: one per provider it uses, each with its client, adapter, limiter and breaker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack

import httpx

from tasks.core.config import PipelineConfig, ProviderSettings
from tasks.core.models import EditJob
from tasks.http import Clock, LimiterRegistry, RateLimit, RateLimiter, RetryPolicy, new_client
from tasks.pipeline.breaker import BreakerBoard
from tasks.pipeline.inputs import output_limits
from tasks.pipeline.lane import ProviderLane
from tasks.pipeline.pool import WorkerPools
from tasks.providers.registry import provider_class
from tasks.storage.source_policy import SourcePolicy

__all__ = ["open_lanes"]


async def open_lanes(
    stack: AsyncExitStack,
    jobs: Sequence[EditJob],
    providers: set[str],
    config: PipelineConfig,
    api_keys: Mapping[str, str | None],
    limiters: LimiterRegistry,
    pools: WorkerPools,
    clock: Clock,
    transport: httpx.AsyncBaseTransport | None,
    policy: SourcePolicy,
    breakers: BreakerBoard,
) -> dict[str, ProviderLane]:
    """A lane for each provider the shard uses: its client, adapter, worker-process lease, limiter and breaker,
    each closed with `stack`."""
    lanes, counts = {}, Counter(job.provider for job in jobs)
    for name in sorted(providers):
        settings = config.provider_settings(name)
        client = await stack.enter_async_context(new_client(timeout=settings.timeout, transport=transport))
        adapter_class = provider_class(name)
        pool = stack.enter_context(pools.lease(adapter_class.worker_processes(settings, counts.get(name, 0))))
        adapter = adapter_class(
            settings=settings,
            client=client,
            api_key=api_keys.get(name),
            pool=pool,
            output_limits=output_limits(policy, settings),
        )
        stack.push_async_callback(adapter.aclose)
        lanes[name] = ProviderLane(
            adapter,
            settings=settings,
            policy=_policy(settings),
            clock=clock,
            limiter=_limiter(name, settings, limiters),
            breaker=breakers.get(name),
        )
    return lanes


def _policy(settings: ProviderSettings) -> RetryPolicy:
    retry = settings.retry
    return RetryPolicy(attempts=retry.attempts, base=retry.base, cap=retry.cap, jitter=retry.jitter, total=retry.total)


def _limiter(name: str, settings: ProviderSettings, limiters: LimiterRegistry) -> RateLimiter | None:
    if settings.rate_limit is None:
        return None
    limit = settings.rate_limit
    wanted = RateLimit(
        requests=limit.requests, period=limit.period, max_in_flight=limit.max_in_flight, burst=limit.burst
    )
    try:
        return limiters.get(name, wanted)
    except ValueError:
        # A later run in this process configured another limit for the provider: the newest config wins.
        limiters.discard(name)
        return limiters.get(name, wanted)
