"""The follow-up jobs of a shard: a rejected or refused job's next step as a new job, within the cost cap."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace

from tasks.core.config import PipelineConfig
from tasks.core.models import EditJob, EditResult
from tasks.costs import BudgetTracker
from tasks.pipeline.plan import job_key
from tasks.quality import Outcome, Step, first_seed, next_step, outcome, within_cap

__all__ = ["FollowUps", "job_for_step", "lane_providers"]


def lane_providers(jobs: Iterable[EditJob], config: PipelineConfig) -> set[str]:
    """The providers a shard of `jobs` may send to: theirs, and their variants' fallbacks."""
    fallbacks = {variant.name: {target.provider for target in variant.fallback} for variant in config.edits}
    found: set[str] = set()
    for job in jobs:
        found |= {job.provider, *fallbacks.get(job.variant, ())}
    return found


class FollowUps:
    """Decides, after each job, whether its chain goes on (README "Quality"), and builds the next job.

    A chain's spend is what its jobs cost in this shard plus what earlier runs spent on it (`chain_spent`
    of a step the planner resumed); its state is dropped when it ends. A step an earlier run already did
    (its key has a succeeded or unknown row) ends the chain: sending it again could bill it twice. Those
    keys are read once, when a shard first needs a follow-up.
    """

    def __init__(self, config: PipelineConfig, budget: BudgetTracker, earlier: Callable[[], set[str]]) -> None:
        """
        Args:
            config: the run's config.
            budget: the run's budget tracker (its price table quotes each next step).
            earlier: the keys earlier runs finished or may have billed (`PriorWork.done | unknown`).
        """
        self._variants = {variant.name: variant for variant in config.edits}
        self._budget = budget
        self._earlier = earlier
        self._seen: set[str] | None = None
        self._spent: dict[str, float] = {}

    def after(self, result: EditResult) -> EditJob | None:
        """The job to run next in `result`'s chain, or None when the chain is over."""
        job = result.job
        chain = job.retry_of or job.job_key
        spent = self._spent.get(chain, job.chain_spent) + (result.cost or 0.0)
        variant = self._variants[job.variant]
        ended = outcome(result)
        # An ended chain has no next step: skip `first_seed`, which builds each seed's chain (most jobs end so).
        over = ended in (Outcome.DONE, Outcome.STOP)
        step = None if over else next_step(variant, first_seed(variant, job.seed, job.attempt), job.attempt, ended)
        follow = None if step is None else job_for_step(job, step, chain)
        if follow is not None and not self._done_before(follow.job_key):
            quote = self._budget.table.quote_job(follow, self._budget.at)
            if within_cap(variant.max_cost_per_accepted, spent, quote.money):
                self._spent[chain] = spent
                return follow
        self._spent.pop(chain, None)
        return None

    def _done_before(self, key: str) -> bool:
        if self._seen is None:
            self._seen = self._earlier()
        return key in self._seen


def job_for_step(job: EditJob, step: Step, chain: str) -> EditJob:
    """The job `step` sends: `job`'s row and prompt with the step's provider, model, params and seed, its own key."""
    target = step.target
    params = dict(target.params)
    key = job_key(
        row_id=job.row_id, variant=job.variant, image=job.image, prompt=job.prompt, provider=target.provider,
        model=target.model, params=params, seed=step.seed, count=job.count, mask=job.mask,
        image_context=job.image_context,
    )  # fmt: skip
    return replace(
        job,
        job_key=key,
        provider=target.provider,
        model=target.model,
        params_json=json.dumps(params, sort_keys=True, default=str),
        seed=step.seed,
        attempt=step.attempt,
        retry_of=chain,
    )
