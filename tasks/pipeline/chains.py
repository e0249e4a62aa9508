"""Chains an earlier run left open: the step each row is due next, read back from the results table.

A run killed (or stopped by a budget cap, a stopped lane, failing storage) after an output was rejected
and before its follow-up ran leaves the chain's latest step in the results table: its attempt, status,
verdicts and the chain's spend. A re-run plans the step that was due instead of the chain's first job,
so a paid attempt is never repeated and `max_cost_per_accepted` counts what was spent before.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from tasks.core.config import EditVariant, PipelineConfig
from tasks.core.models import EditJob
from tasks.costs.prices import PriceTable
from tasks.pipeline.followup import job_for_step
from tasks.quality import Outcome, chain_steps, next_step, outcome_of, within_cap
from tasks.storage.fs import Storage
from tasks.storage.results import read_results

__all__ = ["ChainTrail", "Chains", "chain_trails", "open_chains"]

_COLUMNS = ["job_key", "retry_of", "variant", "attempt", "status", "error_type", "billing_risk", "accepted", "cost",
            "finished_at"]  # fmt: skip


@dataclass(frozen=True)
class ChainTrail:
    """What earlier runs recorded of one chain: its latest step's last event, and what the whole chain spent."""

    attempt: int
    job_key: str
    status: str | None
    error_type: str | None
    billing_risk: bool
    verdicts: tuple[bool | None, ...]
    spent: float


def chain_trails(results: pl.DataFrame) -> dict[str, ChainTrail]:
    """Each chain's trail, by the key of its first job, from results rows (`_COLUMNS`)."""
    if results.is_empty():
        return {}
    rows = results.with_columns(chain=pl.coalesce("retry_of", "job_key"), attempt=pl.col("attempt").fill_null(1))
    rows = rows.with_columns(
        spent=pl.col("cost").fill_null(0.0).sum().over("chain"), top=pl.col("attempt").max().over("chain")
    ).filter(pl.col("attempt") == pl.col("top"))
    # The step's last event (a skipped step sent again later has two): every output row of it.
    when = pl.col("finished_at").cast(pl.Int64).fill_null(-1)
    latest = rows.filter(when == when.max().over("chain"))
    trails = latest.group_by("chain").agg(
        pl.col("top", "job_key", "status", "error_type", "spent").first(),
        pl.col("billing_risk").fill_null(False).any(),
        pl.col("accepted"),
    )
    return {
        chain: ChainTrail(int(top), key, status, error, bool(risk), tuple(verdicts), float(spent))
        for chain, top, key, status, error, spent, risk, verdicts in trails.iter_rows()
    }


class Chains:
    """Picks, for each chain's first job the planner meets, the job a re-run is due in its place.

    - no trail, or the latest step is the first job: the first job (the planner's usual rules apply);
    - the latest step was never sent (skipped: a budget cap, a stopped lane), could not be judged by the
      chain (an unknown outcome, a bad input), or ended accepted: that step's own job again, which the
      planner then skips as done, holds as unknown, or retries;
    - the latest step was rejected or refused: the chain's next step, within `max_cost_per_accepted`
      counting what the chain spent before; None when no step is left or the cap says no (out of attempts).
    """

    def __init__(self, variants: Collection[EditVariant], trails: dict[str, ChainTrail],
                 quote: Callable[[EditJob], float | None]) -> None:  # fmt: skip
        """
        Args:
            variants: the config's variants that have chains (regenerations or fallbacks).
            trails: earlier runs' chains by the key of their first job (`chain_trails`).
            quote: the money a job would cost (None: unpriced).
        """
        self._variants = {variant.name: variant for variant in variants}
        self._trails = trails
        self._quote = quote

    def step(self, job: EditJob) -> EditJob | None:
        """The job to plan in place of the chain's first job `job`; None when the chain is over."""
        variant = self._variants.get(job.variant)
        trail = self._trails.get(job.job_key)
        if variant is None or trail is None:
            return job
        steps = chain_steps(variant, job.seed)
        if trail.attempt > len(steps):
            return None  # the config lost steps since: the chain already went past its end
        latest = job if trail.attempt == 1 else job_for_step(job, steps[trail.attempt - 1], job.job_key)
        latest = replace(latest, chain_spent=trail.spent)
        ended = outcome_of(trail.status, trail.verdicts, trail.error_type, billing_risk=trail.billing_risk)
        if trail.status == "skipped" or ended in (Outcome.STOP, Outcome.DONE):
            return latest
        following = next_step(variant, job.seed, trail.attempt, ended)
        if following is None:
            return None
        follow = replace(job_for_step(job, following, job.job_key), chain_spent=trail.spent)
        return follow if within_cap(variant.max_cost_per_accepted, trail.spent, self._quote(follow)) else None


def open_chains(storage: Storage, config: PipelineConfig, table: PriceTable, at: date) -> Chains | None:
    """The chains earlier runs left under `storage`, or None when no variant of `config` has a chain.

    Raises:
        StorageError: the results table cannot be read.
    """
    variants = [variant for variant in config.edits if len(chain_steps(variant, variant.seeds[0])) > 1]
    if not variants:
        return None
    names = [variant.name for variant in variants]
    results = read_results(storage, columns=_COLUMNS).filter(pl.col("variant").is_in(names))
    return Chains(variants, chain_trails(results), lambda job: table.quote_job(job, at).money)
