"""A run's progress per provider, counted from its job events: done, failed, in flight, rate, ETA, spend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tasks.costs import Forecast
from tasks.pipeline.progress import STARTED, WITHDRAWN, JobEvent

__all__ = ["ProgressSnapshot", "ProviderProgress", "RunTally", "planned_by_provider"]

_ENDED = ("succeeded", "failed", "unknown", "skipped")


@dataclass(frozen=True)
class ProviderProgress:
    """One provider's jobs so far: `done` counts every job that ended this run, whatever its status.

    `rate` is jobs ended per second since the provider's first job started (None before one ended);
    `eta` the seconds left at that rate (None while unknown).
    """

    provider: str
    planned: int
    succeeded: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    in_flight: int = 0
    images: int = 0
    cost: float = 0.0
    credits: float = 0.0
    rate: float | None = None
    eta: float | None = None

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.unknown + self.skipped


@dataclass(frozen=True)
class ProgressSnapshot:
    """Every provider's progress at one moment, and the jobs found already done by earlier runs."""

    providers: tuple[ProviderProgress, ...]
    already_done: int = 0
    finished: bool = False

    @property
    def planned(self) -> int:
        return sum(provider.planned for provider in self.providers)

    @property
    def done(self) -> int:
        return sum(provider.done for provider in self.providers)

    @property
    def percent(self) -> float:
        """Jobs ended out of jobs planned, 0-100 (below 100 at the end of a run that was stopped)."""
        return min(100.0, 100.0 * self.done / self.planned) if self.planned else 0.0


@dataclass
class _Counts:
    planned: int
    statuses: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    images: int = 0
    cost: float = 0.0
    credits: float = 0.0
    first_start: float | None = None


class RunTally:
    """Counts a run's job events per provider; thread-safe (shards emit from their own threads).

    Args:
        planned: jobs to run by provider (the forecast's); a provider not named starts at 0 planned.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, planned: Mapping[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts = {name: _Counts(jobs) for name, jobs in sorted(planned.items())}
        self._already_done = 0
        self._lock = threading.Lock()
        self.version = 0  # grows with every event: a publisher skips a snapshot that did not change

    def add(self, event: JobEvent) -> None:
        """Count one job event."""
        with self._lock:
            self.version += 1
            if event.status == "already_done":
                self._already_done += 1
                return
            counts = self._counts.setdefault(event.provider, _Counts(0))
            if event.status == STARTED:
                counts.in_flight += 1
                counts.first_start = self._clock() if counts.first_start is None else counts.first_start
                return
            counts.in_flight = max(0, counts.in_flight - 1)
            if event.status == WITHDRAWN:
                return
            counts.statuses[event.status] = counts.statuses.get(event.status, 0) + 1
            counts.images += event.images
            counts.cost += event.cost
            counts.credits += event.credits

    def snapshot(self, *, finished: bool = False) -> ProgressSnapshot:
        """Every provider's progress now (`finished`: the run is over, nothing is left to wait for)."""
        now = self._clock()
        with self._lock:
            providers = tuple(_progress(name, counts, now) for name, counts in self._counts.items())
            return ProgressSnapshot(providers, self._already_done, finished)


def _progress(name: str, counts: _Counts, now: float) -> ProviderProgress:
    ended = {status: counts.statuses.get(status, 0) for status in _ENDED}
    done = sum(ended.values())
    elapsed = now - counts.first_start if counts.first_start is not None else 0.0
    rate = done / elapsed if done and elapsed > 0 else None
    left = max(0, counts.planned - done)
    return ProviderProgress(
        provider=name,
        planned=max(counts.planned, done + counts.in_flight),  # never shown as more done than planned
        in_flight=counts.in_flight,
        images=counts.images,
        cost=counts.cost,
        credits=counts.credits,
        rate=rate,
        eta=left / rate if rate else (0.0 if not left else None),
        **ended,
    )


def planned_by_provider(forecast: Forecast | None) -> dict[str, int]:
    """Jobs to run by provider, from the run's forecast (every provider it names, even at 0 jobs)."""
    planned: dict[str, int] = {}
    for group in forecast.groups if forecast is not None else ():
        planned[group.provider] = planned.get(group.provider, 0) + group.jobs
    return planned
