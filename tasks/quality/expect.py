"""Expected regenerations and fallbacks: how likely a chain is to reach each of its later steps."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from tasks.core.config import EditVariant
from tasks.quality.chain import Step, chain_steps

__all__ = ["acceptance_rates", "reach"]


def acceptance_rates(results: pl.DataFrame) -> dict[tuple[str, str], float]:
    """Observed acceptance by (variant, provider): the share of judged jobs with an accepted output.

    Args:
        results: a results table with `job_key`, `variant`, `provider`, `accepted` (rows never judged,
            from variants without rules or tables older than the rules, are left out).
    """
    if results.is_empty() or "accepted" not in results.columns:
        return {}
    judged = results.filter(pl.col("accepted").is_not_null())
    per_job = judged.group_by("job_key", "variant", "provider").agg(pl.col("accepted").any())
    rates = per_job.group_by("variant", "provider").agg(pl.col("accepted").mean().alias("rate"))
    return {(variant, provider): float(rate) for variant, provider, rate in rates.iter_rows()}


def reach(
    variant: EditVariant, first_seed: int | None, rates: Mapping[tuple[str, str], float], start: int = 1
) -> list[tuple[Step, float]]:
    """Each step after step `start` of a chain, with the probability it is taken (those never reached left out).

    A provider with no observed rate is assumed to accept everything: the forecast then adds no retries for
    it until a run (or `retouch pilot`) has measured it. The cost cap is not modelled: it can only lower spend.
    """
    steps = chain_steps(variant, first_seed)
    reached, taken = 1.0, []
    for step in steps[start - 1 : -1]:
        reached *= 1.0 - rates.get((variant.name, step.target.provider), 1.0)
        if reached <= 0.0:
            break
        taken.append((steps[step.attempt], reached))
    return taken
