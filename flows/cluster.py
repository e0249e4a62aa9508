"""Where a run's shards run: threads of this process (the default), or a Dask cluster through prefect-dask."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from pydantic import ValidationError

from tasks.coordination import SHARD_RESOURCE, ClusterLink, local_cluster, open_coordination
from tasks.core.config import ExecutionConfig
from tasks.core.errors import ConfigError
from tasks.pipeline.prepared import PreparedRun
from tasks.pipeline.relay import replay

__all__ = ["THREADS", "cluster_link", "execution_for", "task_runner_for", "workers_reach_api"]

THREADS = 32  # threads start on demand; shards in flight are bounded per provider by execution.parallel_shards


def execution_for(execution: ExecutionConfig, *, runner: str | None, address: str | None) -> ExecutionConfig:
    """The config's `execution` with the command line's `--runner` and `--address` over it (an address means dask).

    Raises:
        ConfigError: the runner or the address is not one the config would accept; nothing was sent.
    """
    update = {"runner": runner or ("dask" if address else None), "dask_address": address}
    try:
        return ExecutionConfig.model_validate(
            {**execution.model_dump(), **{key: value for key, value in update.items() if value is not None}}
        )
    except ValidationError as error:
        problems = "; ".join(f"execution.{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise ConfigError(f"--runner/--address: {problems}") from None


def task_runner_for(execution: ExecutionConfig, *, providers: int = 1) -> TaskRunner[Any]:
    """The task runner `execution` asks for.

    Args:
        execution: the config's `execution` section (`runner`, `dask_address`, `dask_workers`).
        providers: how many providers the run uses (each streams `parallel_shards` shards at once).

    Returns:
        A thread pool; a `DaskTaskRunner` on the scheduler at `dask_address`; or one that starts a
        `LocalCluster` of `dask_workers` worker processes on loopback, without a dashboard, for the run.
    """
    if execution.runner != "dask":
        return ThreadPoolTaskRunner(max_workers=THREADS)
    # Imported for a Dask run alone: prefect-dask and distributed take ~0.3 s to import, which every run's
    # start on threads would pay.
    from prefect_dask.task_runners import DaskTaskRunner

    if execution.dask_address is not None:
        return DaskTaskRunner(address=execution.dask_address)
    shards = execution.parallel_shards * max(providers, 1)
    # Enough threads that the shards in flight spread over the workers, not queue on one.
    threads = max(1, math.ceil(shards / execution.dask_workers))
    return DaskTaskRunner(
        cluster_class=local_cluster,
        cluster_kwargs={
            "n_workers": execution.dask_workers,
            "threads_per_worker": threads,
            # Shards ask for this, so the coordinator's host (the flow's process) never gets one.
            "resources": {SHARD_RESOURCE: threads},
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        },
    )


@contextmanager
def cluster_link(prepared: PreparedRun, run_id: str) -> Iterator[ClusterLink | None]:
    """The run's coordination on the cluster when the flow runs on Dask; None on threads (nothing to share)."""
    context = FlowRunContext.get()
    runner = context.task_runner if context is not None else None
    if runner is None or isinstance(runner, ThreadPoolTaskRunner):
        yield None
        return
    from prefect_dask.task_runners import DaskTaskRunner  # for a Dask run alone, as in task_runner_for

    if not isinstance(runner, DaskTaskRunner):
        yield None
        return
    client = runner.client
    with open_coordination(client, prepared.config, prepared.providers, run_id=run_id, at=prepared.forecast.at) as link:
        # Shards in worker processes relay their job events here (Dask events), for the progress bar.
        client.subscribe_topic(link.progress_topic, lambda event: replay(run_id, event[1]))  # type: ignore[no-untyped-call]
        try:
            yield link
        finally:
            client.unsubscribe_topic(link.progress_topic)  # type: ignore[no-untyped-call]


@contextmanager
def workers_reach_api(execution: ExecutionConfig) -> Iterator[None]:
    """Give Dask workers an API to report their task runs to: the one in PREFECT_API_URL, or else this
    process's temporary server (started here if need be), whose address travels with each task's settings.

    A worker without an address would try to start a temporary server of its own. Workers on other
    machines cannot reach this one on loopback: run a Prefect server and set PREFECT_API_URL for them.
    """
    if execution.runner != "dask" or PREFECT_API_URL.value():
        yield
        return
    # Imported here: it loads Prefect's whole server (~1-2.5 s), which `retouch run` never needs (it starts
    # its temporary server through flows.api_start and sets PREFECT_API_URL); a script calling this may.
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()  # already running when the CLI started it: nothing to do
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield
