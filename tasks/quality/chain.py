"""What to try after an output is rejected or a provider gives up: the next seed, the next provider, or nothing.

A chain is one row × variant × seed. Its steps are the variant's provider with the seed and then
`on_reject.retry_seeds` next seeds, then each `fallback` provider the same way. Each step is a new job
with its own key: nothing already sent (and perhaps billed) is ever sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from tasks.core import errors
from tasks.core.config import EditVariant
from tasks.core.models import EditResult
from tasks.core.quality_config import FallbackTarget

__all__ = ["Outcome", "Step", "chain_steps", "first_seed", "next_step", "outcome", "outcome_of", "within_cap"]

# Another provider may take what this one refused or could not do; the same provider would not.
_SWITCH = (errors.ContentRejected, errors.InsufficientCredits, errors.AuthError, errors.LaneStopped,
           errors.RetryableProviderError)  # fmt: skip
# The job ran and produced nothing usable: another seed may do better.
_REGENERATE = (errors.JobFailed,)


class Outcome(Enum):
    """How a chain's step ended, as far as the chain is concerned."""

    DONE = "done"  # accepted, or no rules to judge by
    REJECTED = "rejected"  # try the next step
    SWITCH = "switch"  # try the next provider's first step
    STOP = "stop"  # nothing more to try (a bad input, a budget stop, a possibly billed submit)


@dataclass(frozen=True)
class Step:
    """One step of a chain: where the job goes, with which seed, and its 1-based place in the chain."""

    target: FallbackTarget
    seed: int | None
    attempt: int


def chain_steps(variant: EditVariant, first_seed: int | None) -> list[Step]:
    """Every step a chain starting at `first_seed` may take, in order."""
    seeds = [first_seed, *_retry_seeds(variant, first_seed)]
    primary = FallbackTarget(provider=variant.provider, model=variant.model, params=dict(variant.params))
    targets = [primary, *variant.fallback]
    pairs = [(target, seed) for target in targets for seed in seeds]
    return [Step(target=target, seed=seed, attempt=i + 1) for i, (target, seed) in enumerate(pairs)]


def first_seed(variant: EditVariant, seed: int | None, attempt: int) -> int | None:
    """The first seed of the chain whose step `attempt` sends `seed` (`seed` itself when none does).

    Retry seeds are disjoint per first seed, so the step's seed and place name one chain.
    """
    for first in variant.seeds:
        steps = chain_steps(variant, first)
        if attempt <= len(steps) and steps[attempt - 1].seed == seed:
            return first
    return seed


def outcome(result: EditResult) -> Outcome:
    """How `result` ends its step (see `Outcome`)."""
    verdicts = [output.accepted for output in result.outputs]
    return outcome_of(result.status, verdicts, result.error_type, billing_risk=result.billing_risk)


def outcome_of(
    status: str | None, verdicts: Sequence[bool | None], error_type: str | None, *, billing_risk: bool
) -> Outcome:
    """How a step ended, from what its result row records (a re-run reads it back from the results table).

    Args:
        status: the job's status.
        verdicts: `accepted` of each output (None: not judged).
        error_type: the job's error type, if it failed.
        billing_risk: whether the job may have been billed without an answer.
    """
    if status == "succeeded":
        return Outcome.REJECTED if verdicts and not any(v is None or v for v in verdicts) else Outcome.DONE
    if status == "unknown" or billing_risk or error_type is None:
        return Outcome.STOP
    kind = getattr(errors, error_type, None)
    if isinstance(kind, type) and issubclass(kind, _SWITCH):
        return Outcome.SWITCH
    if isinstance(kind, type) and issubclass(kind, _REGENERATE):
        return Outcome.REJECTED
    return Outcome.STOP


def next_step(variant: EditVariant, first_seed: int | None, attempt: int, ended: Outcome) -> Step | None:
    """The step after step `attempt` of a chain that ended `ended`; None when the chain is over."""
    if ended in (Outcome.DONE, Outcome.STOP):
        return None
    steps = chain_steps(variant, first_seed)
    if attempt >= len(steps):
        return None
    if ended is Outcome.REJECTED:
        return steps[attempt]
    current = steps[attempt - 1].target
    return next((step for step in steps[attempt:] if step.target != current), None)


def within_cap(cap: float | None, spent: float, next_money: float | None) -> bool:
    """Whether a chain that has spent `spent` may try a step quoted at `next_money` under `max_cost_per_accepted`.

    An unpriced step is never tried under a cap: its cost could pass it.
    """
    if cap is None:
        return True
    return next_money is not None and spent + next_money <= cap + 1e-12


def _retry_seeds(variant: EditVariant, first_seed: int | None) -> list[int]:
    """Seeds past the variant's own, disjoint per seed: seeds [1, 2] with 2 retries give 1→3,4 and 2→5,6."""
    count = variant.on_reject.retry_seeds
    if count == 0:
        return []
    index = variant.seeds.index(first_seed) if first_seed in variant.seeds else 0
    start = max(variant.seeds) + 1 + index * count
    return [(start + k) % 2**32 for k in range(count)]
