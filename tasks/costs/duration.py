"""How long one provider's share of a run should take, from its rate limit, in-flight cap and latency.

The estimate is deliberately simple:

- requests per job: a sync provider sends 1 request; an async one sends 1 submit plus one poll every
  `poll_interval` until the job ends, i.e. ``1 + max(1, ceil(latency / poll_interval))`` (the lane sleeps
  one interval before each poll); the local provider sends none. Output downloads go to a CDN outside
  the API rate limit and are not counted.
- throughput (jobs/s) is the smallest of ``(requests / period) / requests_per_job`` (rate limit) and
  ``in_flight / latency`` (in-flight cap: the provider's ``max_in_flight`` and, if given, the executor's
  concurrency, whichever is smaller).
- duration = ``jobs / throughput + latency`` (the last job still takes its own latency). With neither
  limit configured the pace is unbounded and the duration is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tasks.core.config import ProviderSettings
from tasks.costs.schema import Estimate

__all__ = ["DurationEstimate", "estimate_duration", "requests_per_job"]

Mode = Literal["sync", "async", "local"]


@dataclass(frozen=True)
class DurationEstimate:
    """One provider's expected requests and wall time; `seconds` None means unbounded by config."""

    provider: str
    jobs: int
    mode: Mode
    requests_per_job: int
    requests: int
    latency_seconds: float
    jobs_per_second: float | None
    seconds: float | None
    bound_by: str


def requests_per_job(mode: Mode, latency: float, poll_interval: float) -> int:
    """API requests one job is expected to make (see the module docstring)."""
    if mode == "local":
        return 0
    if mode == "sync":
        return 1
    return 1 + max(1, math.ceil(latency / poll_interval))


def estimate_duration(
    provider: str,
    jobs: int,
    *,
    settings: ProviderSettings,
    estimate: Estimate,
    latency: float | None = None,
    concurrency: int | None = None,
) -> DurationEstimate:
    """Estimate one provider's requests and wall time.

    Args:
        provider: the provider name.
        jobs: jobs it will run.
        settings: its config section (rate_limit, poll_interval, mode).
        estimate: its price table `estimate` (default mode and latency).
        latency: expected seconds per job, overriding the table's `latency_seconds`.
        concurrency: jobs the executor keeps in flight at most (concurrency x parallel shards), if known.
    """
    mode: Mode = "local" if estimate.mode == "local" else (settings.mode or estimate.mode)
    seconds_per_job = estimate.latency_seconds if latency is None else latency
    per_job = requests_per_job(mode, seconds_per_job, settings.poll_interval)
    limits = _limits(settings, per_job, seconds_per_job, concurrency)
    if not limits:
        pace, bound, total = None, "unbounded", None
    else:
        bound, pace = min(limits.items(), key=lambda item: item[1])
        total = jobs / pace + seconds_per_job if jobs else 0.0
    return DurationEstimate(
        provider=provider,
        jobs=jobs,
        mode=mode,
        requests_per_job=per_job,
        requests=jobs * per_job,
        latency_seconds=seconds_per_job,
        jobs_per_second=pace,
        seconds=total,
        bound_by=bound,
    )


def _limits(settings: ProviderSettings, per_job: int, latency: float, concurrency: int | None) -> dict[str, float]:
    limits: dict[str, float] = {}
    rate = settings.rate_limit
    if rate is not None and per_job:
        limits["rate_limit"] = rate.requests / rate.period / per_job
    caps = {"max_in_flight": rate.max_in_flight if rate else None, "concurrency": concurrency}
    present = {name: cap for name, cap in caps.items() if cap is not None}
    if present and latency > 0:
        name, cap = min(present.items(), key=lambda item: item[1])
        limits[name] = cap / latency
    return limits
