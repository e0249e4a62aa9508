"""The coordinator on a Dask cluster: hosted as an actor, in-flight caps as `distributed.Semaphore`s.

The flow opens the coordination (`open_coordination`) and passes the picklable `ClusterLink` to every
shard; a shard joins its process's member for the run (`joined`), which reaches the actor a few times a
second and holds leases on the semaphores. A dead process stops refreshing: the coordinator takes it
for dead after `ttl` and the scheduler frees its leases after the semaphore's lease timeout.

Where the actor lives: when every worker of the cluster declares the `SHARD_RESOURCE` resource (the
clusters `retouch run --runner dask` starts do), the flow's own process joins the cluster as one more
worker that hosts only the coordinator, and shards ask for the resource so they never land there: a
worker process that dies then costs its shards, never the coordination. On other clusters the actor
lives on one of their workers, and that worker's death ends the run (the next run picks up).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from tasks.coordination.coordinator import Coordinator, CoordinatorState
from tasks.coordination.member import Member
from tasks.coordination.shares import Amount, Grant, ProviderLimit, Report
from tasks.core.config import PipelineConfig
from tasks.costs import load_price_table

if TYPE_CHECKING:
    from distributed import Client, LocalCluster, Worker

__all__ = [
    "LEASE_SECONDS",
    "SHARD_RESOURCE",
    "ClusterLink",
    "SemaphoreLeases",
    "joined",
    "local_cluster",
    "open_coordination",
]

# A dead process's in-flight leases come back after this long; members refresh them every fifth of it. At 5 s a
# worker whose event loop stalled under load lost a live lease, and a seventh FASHN job drew a 429.
LEASE_SECONDS = 15.0
_REFRESH = 0.1  # seconds between a member's reports: how soon a 429, a join or a death reaches the others
_TTL = 3.0  # a member silent this long is taken for dead (15 missed refreshes: never a slow one)
SHARD_RESOURCE = "retouch-shard"  # declared by the workers that take shards (per thread: one shard each)
_LOCK_CONFIG = {
    "distributed.scheduler.locks.lease-timeout": f"{LEASE_SECONDS}s",
    "distributed.scheduler.locks.lease-validation-interval": f"{LEASE_SECONDS / 5}s",
}


@dataclass(frozen=True)
class ClusterLink:
    """What a shard needs to join the run's coordination (picklable: the actor travels as its address).

    Attributes:
        run_id: the run.
        coordinator: the Dask actor proxy of the run's `Coordinator`.
        host: the worker hosting the coordinator (its death ends the coordination: see README).
        at: the date whose prices apply.
        limits: the rate-limited providers' account limits.
        hosted_here: the coordinator lives in the flow's process, and shards must ask for
            `SHARD_RESOURCE` to stay off that process's worker.
        origin: the flow's process (host and pid), which listens to `progress_topic`.
    """

    run_id: str
    coordinator: Any
    host: str
    at: date
    limits: Mapping[str, ProviderLimit]
    refresh: float = _REFRESH
    hosted_here: bool = False
    origin: str = ""

    @property
    def progress_topic(self) -> str:
        """The Dask event topic shards relay their job events on, to the flow's progress bar."""
        return f"retouch-progress-{self.run_id}"

    def progress_sender(self) -> Callable[[list[Any]], None] | None:
        """In a shard's thread: how to send job events to the flow's process; None in that process itself."""
        if self.origin == _this_process():
            return None
        from distributed import get_worker  # on a cluster alone, as in SemaphoreLeases

        return functools.partial(get_worker().log_event, self.progress_topic)

    def placement(self) -> AbstractContextManager[object]:
        """Around a shard's submission: where the cluster may run it (off the coordinator's host)."""
        if self.hosted_here:
            from dask.base import annotate  # on a cluster alone, as in SemaphoreLeases

            return annotate(resources={SHARD_RESOURCE: 1})
        return contextlib.nullcontext()

    def semaphore(self, provider: str) -> str:
        """The name of the provider's in-flight semaphore for this run."""
        return f"retouch-{self.run_id}-{provider}"

    def start_shard(self, index: int) -> int:
        """Count a start of shard `index` (above 1: Dask ran it again after its worker died)."""
        return int(self.coordinator.start_shard(index).result())

    def state(self) -> CoordinatorState:
        """The coordinator's snapshot."""
        state: CoordinatorState = self.coordinator.state().result()
        return state


class SemaphoreLeases:
    """This process's leases on one provider's cluster-wide in-flight semaphore (never waits for one).

    Args:
        name: the semaphore's name; `max_leases`: the provider's in-flight cap.
    """

    def __init__(self, name: str, max_leases: int) -> None:
        # Imported on a cluster alone: distributed takes ~0.3 s to import, which every run on threads would pay.
        import dask
        from distributed import Semaphore, get_worker

        worker = get_worker()  # in the shard's thread: the refresh thread has no worker context
        with dask.config.set(_LOCK_CONFIG):
            self._semaphore = Semaphore(max_leases, name, scheduler_rpc=worker.scheduler, loop=worker.loop)
            self._semaphore.register()
        self._held = 0

    @property
    def held(self) -> int:
        """Leases held by this process."""
        return self._held

    def try_acquire(self) -> bool:
        """Take one more lease if one is free now."""
        if self._semaphore.acquire(timeout=0):
            self._held += 1
            return True
        return False

    def release(self) -> None:
        """Give one lease back."""
        self._held -= 1
        self._semaphore.release()

    def close(self) -> None:
        """Stop refreshing this process's leases (held ones are given back first by the member)."""
        callback = getattr(self._semaphore, "refresh_callback", None)  # absent with an infinite lease timeout
        if callback is not None:
            callback.stop()


class _ActorCalls:
    """The coordinator actor's methods as plain blocking calls (one round trip each)."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor

    def refresh(self, report: Report) -> Grant:
        grant: Grant = self._actor.refresh(report).result()
        return grant

    def leave(self, report: Report) -> None:
        self._actor.leave(report).result()

    def take_block(self, member: str, provider: str, want: Amount, least: Amount) -> Amount | str:
        block: Amount | str = self._actor.take_block(member, provider, want, least).result()
        return block

    def capped(self, provider: str) -> bool:
        return bool(self._actor.capped(provider).result())


_members: dict[str, tuple[Member, int]] = {}  # run_id -> (this process's member, shards using it)
_members_lock = threading.Lock()


@contextmanager
def joined(link: ClusterLink, config: PipelineConfig, providers: Iterable[str]) -> Iterator[Member]:
    """This process's member of the run, joined by the first shard and left by the last one running.

    Args:
        link: the run's coordination.
        config: the run's config.
        providers: the shard's providers (the member holds a share of each while the shard runs).
    """
    with _members_lock:
        member, users = _members.get(link.run_id) or (_new_member(link, config), 0)
        _members[link.run_id] = (member, users + 1)
    try:
        member.enter(providers)
        yield member
    finally:
        member.exit(providers)
        with _members_lock:
            member, users = _members[link.run_id]
            if users == 1:
                del _members[link.run_id]
            else:
                _members[link.run_id] = (member, users - 1)
        if users == 1:
            member.close()


def _new_member(link: ClusterLink, config: PipelineConfig) -> Member:
    leases = {
        name: SemaphoreLeases(link.semaphore(name), limit.max_in_flight)
        for name, limit in sorted(link.limits.items())
        if limit.max_in_flight is not None
    }
    table = load_price_table(config.pricing)
    return Member(_ActorCalls(link.coordinator), leases, config, table, at=link.at, refresh=link.refresh)


@contextmanager
def open_coordination(
    client: Client, config: PipelineConfig, providers: Iterable[str], *, run_id: str, at: date, ttl: float = _TTL
) -> Iterator[ClusterLink]:
    """Host the run's coordinator on the cluster for as long as the run's shards run.

    Args:
        client: a client of the cluster the shards run on.
        config: the run's config (each provider's `rate_limit`, the `budget`).
        providers: the providers the run uses.
        run_id: the run.
        at: the date whose prices apply.
        ttl: seconds of silence after which a member is taken for dead.
    """
    limits = {}
    for name in sorted(set(providers)):
        limit = config.provider_settings(name).rate_limit
        if limit is not None:
            limits[name] = ProviderLimit(limit.requests, limit.period, limit.max_in_flight)
    with _host_here(client, run_id) as here:
        placement: dict[str, Any] = {"workers": [here], "allow_other_workers": False} if here else {}
        key = f"retouch-coordinator-{run_id}"
        future = client.submit(Coordinator, limits, config.budget, ttl=ttl, actor=True, key=key, **placement)
        actor = future.result()
        host = next(iter(client.who_has([future]).get(future.key, ())), "")
        try:
            yield ClusterLink(run_id, actor, host, at, limits, hosted_here=here is not None, origin=_this_process())
        finally:
            future.release()


@contextmanager
def _host_here(client: Client, run_id: str) -> Iterator[str | None]:
    """A worker in this process for the coordinator alone (its address), if the cluster's workers can keep
    shards off it; None (host it on the cluster) when some worker does not declare `SHARD_RESOURCE`."""
    workers = client.scheduler_info()["workers"].values()
    if not workers or any(SHARD_RESOURCE not in (info.get("resources") or {}) for info in workers):
        yield None
        return
    scheduler = str(client.scheduler.address) if client.scheduler is not None else ""
    # On loopback the cluster reaches this process there; otherwise on the address Dask picks.
    host = "127.0.0.1" if "://127.0.0.1:" in scheduler else None

    from distributed import Worker  # on a cluster alone, as in SemaphoreLeases

    async def start() -> Worker:
        # memory_limit=0: Dask must not pause or spill this process on the flow's own memory use.
        worker: Worker = await Worker(
            scheduler, nthreads=1, host=host, name=f"retouch-coordinator-{run_id}", memory_limit=0
        )
        return worker

    worker: Worker = client.sync(start)
    try:
        yield worker.address
    finally:
        client.sync(worker.close)


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def local_cluster(**kwargs: Any) -> LocalCluster:
    """A `LocalCluster` whose scheduler frees a dead worker's semaphore leases after `LEASE_SECONDS`."""
    import dask  # as in SemaphoreLeases: on a cluster alone
    from distributed import LocalCluster

    with dask.config.set(_LOCK_CONFIG):
        return LocalCluster(**kwargs)
