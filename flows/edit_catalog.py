"""The main flow: prepare → forecast and budget → one stream of shards per provider → publish."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import pyarrow as pa
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.cluster import cluster_link
from flows.progress_artifacts import progress_artifacts
from tasks.coordination import ClusterLink
from tasks.core.errors import StorageError
from tasks.core.models import Accepted
from tasks.costs import AccountBalance, BalanceChange, BudgetTracker, write_forecast
from tasks.edit import edit_shard
from tasks.pipeline.balances import read_balances, settle_balances
from tasks.pipeline.breaker import BreakerBoard
from tasks.pipeline.chains import open_chains
from tasks.pipeline.checkpoint import prune_pending, read_pending
from tasks.pipeline.executor import ShardSummary
from tasks.pipeline.gate import check_balances, open_budget
from tasks.pipeline.interrupt import PROCESS_STOP
from tasks.pipeline.lease import output_lease
from tasks.pipeline.manifest import RunSummary, RunTotals, new_run_id, summarize
from tasks.pipeline.prepared import PreparedRun
from tasks.pipeline.progress import announce, emit
from tasks.pipeline.recovery import recover
from tasks.pipeline.refresh import RefreshSchedule
from tasks.pipeline.shards import PlanCounts, Planner, RetrySelection, load_prior
from tasks.pipeline.streams import ShardStreams
from tasks.pipeline.tables import conform_tables
from tasks.pipeline.tally import planned_by_provider
from tasks.prepare import prepare, resolve_api_keys
from tasks.publish import publish_run, show_forecast
from tasks.schedule import publish_schedule_forecast, refresh_gate

__all__ = ["edit_catalog"]


# Threads start on demand; shards in flight are bounded per provider by execution.parallel_shards.
@flow(name="edit-catalog", task_runner=ThreadPoolTaskRunner(max_workers=32))  # type: ignore[arg-type]
def edit_catalog(
    config_path: str | None = None,
    limit: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    run_id: str | None = None,
    proceed_to_cap: bool = False,
    prepared: PreparedRun | None = None,
    wait: float = 0.0,
    balances: tuple[AccountBalance, ...] | None = None,
    only_failed: RetrySelection | None = None,
    schedule: RefreshSchedule | None = None,
) -> RunSummary:
    """Edit every catalog row × variant × seed not already done, within budget, and record everything.

    Args:
        config_path: the YAML config (not needed when `prepared` is given).
        limit: edit only the first N catalog rows (overrides catalog.limit).
        force: run every job again, even those already succeeded.
        dry_run: plan, count and forecast; edit nothing, write nothing.
        run_id: set by the caller to follow progress; generated when None.
        proceed_to_cap: when the forecast exceeds a budget cap, run up to the cap instead of stopping.
        prepared: the run as the caller already prepared it (the CLI does, before Prefect starts); its
            own `limit` and `force` then apply. None: the flow prepares it from `config_path`.
        wait: seconds to queue for the output's lease while another run holds it (0: refuse at once).
        balances: the provider accounts' credits, read and checked against the forecast by the caller
            just before (the CLI does, to show them before asking); None: the flow reads and checks them.
        only_failed: run again only the jobs that ended unsuccessfully and that it admits (error types; jobs
            held unknown only when asked), nothing new; None: every job not yet done.
        schedule: set by a deployment (`retouch deploy` / `serve`): the run first checks the config file is
            the one deployed, ends as `unchanged` when the catalog and config are as the last complete run
            left them, waits `schedule.wait` s for a previous run still writing (then ends as `skipped`),
            and publishes the schedule's forecast beside what it spent. Needs `config_path`.

    A stop request (Ctrl-C in the CLI, `tasks.pipeline.interrupt.PROCESS_STOP`) ends the run early: no
    shard starts after it, the shards running drain (see `run_shard`), and the summary says `interrupted`.

    Raises:
        ConfigError / CatalogError: before any work.
        LeaseHeld: another run is writing to the same output.uri (a dry run takes no lease).
        BudgetExceeded: the forecast is over a cap, or over a provider account's balance, and proceeding
            was not asked for.
        ValueError: neither `config_path` nor `prepared` was given, or `limit`/`force` disagree with `prepared`.
    """
    started_at = datetime.now(UTC)
    run_id = run_id or new_run_id()
    announce(run_id, "planning")
    if schedule is not None and config_path is not None:
        early = refresh_gate(config_path, run_id, schedule, started_at)
        if early is not None:
            publish_schedule_forecast(early, config_path, schedule)
            return _ended_early(early)
        wait = schedule.wait
    prepared = _prepared_once(prepared, config_path, limit=limit, force=force, only_failed=only_failed)
    show_forecast(prepared.forecast, f"forecast for run {run_id}")
    gate = open_budget(prepared, proceed_to_cap=proceed_to_cap)
    # One writer per output: held from before the plan reads what is done until the manifest is written.
    with output_lease(prepared.storage, run_id, dry_run=dry_run, wait=wait):
        changes: tuple[BalanceChange, ...] = ()
        if dry_run:
            plan, totals = prepared.plan, RunTotals()
        else:
            plan, totals, changes = _edit_with_balances(prepared, run_id, gate.tracker, balances, proceed_to_cap)
        interrupted = _stop_requested() and not dry_run
        summary = summarize(
            prepared, run_id=run_id, plan=prepared.plan if interrupted else plan, totals=totals,
            budget_stop=gate.over, started_at=started_at, dry_run=dry_run, interrupted=interrupted, balances=changes,
        )  # fmt: skip
        if not dry_run:
            summary = publish_run(summary, prepared.config.output, prepared.config.catalog)
        if schedule is not None and config_path is not None and not dry_run:
            publish_schedule_forecast(summary, config_path, schedule)
    get_run_logger().info("run %s: %s", run_id, summary.model_dump_json(exclude={"forecast"}))
    return summary


def _stop_requested() -> bool:
    # Not read in the flow's body: Dask pickles the flow with its context, by value with the globals its
    # body names, and the process's stop signal holds a lock.
    return PROCESS_STOP.requested


def _ended_early(summary: RunSummary) -> RunSummary:
    """A scheduled run that planned nothing ends in a state named for why (the Prefect UI shows it).

    Prefect makes a State returned by a flow its final state, and a caller of the flow gets the state's data.
    """
    name, why = ("Skipped", summary.skipped) if summary.skipped else ("Unchanged", "catalog and config unchanged")
    return cast(RunSummary, Completed(name=name, message=why, data=summary))


def _prepared_once(
    prepared: PreparedRun | None,
    config_path: str | None,
    *,
    limit: int | None,
    force: bool,
    only_failed: RetrySelection | None,
) -> PreparedRun:
    """The caller's prepared run, or one prepared now from `config_path` (a deployment's run does this)."""
    if prepared is None:
        if config_path is None:
            raise ValueError("edit_catalog needs a config_path or a prepared run")
        return prepare(config_path, limit=limit, force=force, only_failed=only_failed)
    given, used = (limit, force, only_failed), (prepared.limit, prepared.force, prepared.only_failed)
    if given not in ((None, False, None), used):
        limit_, force_, only_ = used
        raise ValueError(f"the run was prepared with limit={limit_}, force={force_}, only_failed={only_}: pass none")
    return prepared


def _edit_with_balances(
    prepared: PreparedRun,
    run_id: str,
    budget: BudgetTracker,
    before: tuple[AccountBalance, ...] | None,
    proceed_to_cap: bool,
) -> tuple[PlanCounts, RunTotals, tuple[BalanceChange, ...]]:
    """Check the accounts can pay (reading their balances unless given), edit, then read the balances again."""
    keys = resolve_api_keys(prepared.config, prepared.providers)
    if before is None:
        before = read_balances(prepared.config, keys, prepared.providers)
        check_balances(prepared, before, proceed_to_cap=proceed_to_cap)
    plan, totals = _edit(prepared, run_id, budget)
    if not before:
        return plan, totals, ()
    after = read_balances(prepared.config, keys, prepared.providers)
    return plan, totals, settle_balances(before, after, prepared.storage, run_id=run_id)


def _edit(prepared: PreparedRun, run_id: str, budget: BudgetTracker) -> tuple[PlanCounts, RunTotals]:
    """Plan the run in one catalog pass against the results as they are now, and run its shards."""
    storage = prepared.storage
    results_schema = prepared.results_schema
    conform_tables(storage, results_schema)  # older parts into the one schema, before any new part
    write_forecast(storage, prepared.forecast, run_id=run_id)
    # What earlier runs paid for but never recorded is written first, and never bought again.
    recovery = recover(storage, prepared.config, results_schema)
    prior = recovery.apply(load_prior(storage, force=prepared.force))
    pending = {} if prepared.force else prune_pending(storage, read_pending(storage), prior.done)
    chains = None if prepared.force else open_chains(storage, prepared.config, budget.table, budget.at)
    planner = Planner(
        prepared.config, prior, limit=prepared.limit, on_skip=lambda: emit(run_id, "already_done"),
        only=prepared.only_failed, chains=chains,
    )  # fmt: skip
    get_run_logger().info(
        "run %s: %d catalog rows, %d jobs already done; recovered %d paid-for jobs, held %d unknown",
        run_id, prepared.rows, len(prior.done), recovery.adopted, recovery.held,
    )  # fmt: skip
    execution = prepared.config.execution
    announce(run_id, "editing")
    breakers = BreakerBoard()
    planned = planned_by_provider(prepared.forecast)
    with (
        progress_artifacts(run_id, planned, prepared.forecast.currency),
        cluster_link(prepared, run_id) as link,
        ShardStreams(
            planner.jobs(), prepared.providers, shard_size=execution.shard_size, hold=execution.parallel_shards
        ) as streams,
    ):
        totals = _run_streams(streams, prepared, run_id, pending, budget, results_schema, breakers, link)
    return planner.counts(), replace(totals, lanes_stopped={**totals.lanes_stopped, **breakers.stops()})


def _run_streams(
    streams: ShardStreams,
    prepared: PreparedRun,
    run_id: str,
    pending: Mapping[str, Accepted],
    budget: BudgetTracker,
    results_schema: pa.Schema,
    breakers: BreakerBoard,
    link: ClusterLink | None = None,
) -> RunTotals:
    """Run each provider's shards as its own stream, at most `parallel_shards` in flight per provider.

    Streams are independent so a slow provider never starves a fast one: with shards mixing providers,
    jobs waiting on the slowest provider's limit would fill every slot (measured: the other providers
    then ran at a third of their limits). Shards are planned only as slots free up, so memory stays flat.
    """
    config, totals, index = prepared.config, RunTotals(), 0
    active: dict[PrefectFuture[ShardSummary], str] = {}
    open_streams = list(streams.providers)
    while open_streams or active:
        if PROCESS_STOP.requested:
            open_streams = []  # stopped: no shard starts; those running drain (see run_shard)
        for provider in list(open_streams):
            while sum(1 for name in active.values() if name == provider) < config.execution.parallel_shards:
                shard = streams.next_shard(provider)
                if shard is None:
                    open_streams.remove(provider)
                    break
                shard_pending = {job.job_key: pending[job.job_key] for job in shard if job.job_key in pending}
                # On a cluster the coordinator holds the budget, and breakers are per process.
                tracker, board = (budget, breakers) if link is None else (None, None)
                with link.placement() if link is not None else nullcontext():
                    future = edit_shard.submit(
                        index, shard, config, run_id, shard_pending, tracker, results_schema, board, link
                    )
                active[future] = provider
                index += 1
        if active:
            finished = next(as_completed(list(active)))
            del active[finished]
            try:
                totals = totals.plus(finished.result())
            except StorageError:
                # Shards in flight stop sending and spool what they paid for; cutting them short would
                # leave paid jobs with no record but their journal's intent.
                for running in active:
                    running.wait()
                raise
    return totals
