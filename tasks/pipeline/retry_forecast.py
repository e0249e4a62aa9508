"""The forecast's expected regenerations and fallbacks, priced from observed acceptance rates (README "Quality")."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from datetime import date

from tasks.core.config import EditVariant, PipelineConfig
from tasks.core.models import EditJob
from tasks.costs import Forecast, ForecastGroup
from tasks.costs.prices import PriceTable
from tasks.pipeline.followup import job_for_step
from tasks.quality import first_seed
from tasks.quality.expect import acceptance_rates, reach
from tasks.storage.fs import Storage
from tasks.storage.results import read_results

__all__ = ["RETRIES_SUFFIX", "FirstJobs", "with_expected_retries"]

RETRIES_SUFFIX = " (expected retries)"


class FirstJobs:
    """Passes jobs through, counting them per variant, chain (first seed) and step, and keeping each variant's
    first as a price sample. A re-run plans some chains at a later step (`tasks.pipeline.chains`)."""

    def __init__(self, jobs: Iterable[EditJob], config: PipelineConfig) -> None:
        self._jobs = jobs
        self._variants = {variant.name: variant for variant in config.edits}
        self.first: dict[str, EditJob] = {}
        self.counts: dict[tuple[str, int | None, int], int] = {}

    def __iter__(self) -> Iterator[EditJob]:
        for job in self._jobs:
            self.first.setdefault(job.variant, job)
            seed = job.seed if job.attempt == 1 else first_seed(self._variants[job.variant], job.seed, job.attempt)
            key = (job.variant, seed, job.attempt)
            self.counts[key] = self.counts.get(key, 0) + 1
            yield job


def with_expected_retries(
    estimate: Forecast, config: PipelineConfig, seen: FirstJobs, table: PriceTable, at: date, storage: Storage
) -> Forecast:
    """`estimate` plus one group per later chain step with its expected jobs and spend.

    Expected jobs of a step = the variant's planned jobs × the chance the chain reaches it, with chances
    from the acceptance observed in the output's results table (earlier runs, a pilot).
    """
    variants = [
        variant for variant in config.edits if variant.accept and (variant.on_reject.retry_seeds or variant.fallback)
    ]
    if not variants or not seen.first:
        return estimate
    rates = acceptance_rates(read_results(storage, columns=["job_key", "variant", "provider", "accepted"]))
    groups: list[ForecastGroup] = []
    for variant in variants:
        sample = seen.first.get(variant.name)
        if sample is None:
            continue
        for (name, seed, attempt), jobs in sorted(seen.counts.items(), key=str):
            if name == variant.name:
                first = dataclasses.replace(sample, seed=seed)
                groups += _step_groups(variant, first, attempt, jobs, rates, table, at)
    return dataclasses.replace(estimate, groups=(*estimate.groups, *groups))


def _step_groups(
    variant: EditVariant, sample: EditJob, attempt: int, jobs: int, rates: dict[tuple[str, str], float],
    table: PriceTable, at: date,
) -> list[ForecastGroup]:  # fmt: skip
    groups = []
    for step, chance in reach(variant, sample.seed, rates, start=attempt):
        quote = table.quote_job(job_for_step(sample, step, sample.job_key), at)
        expected = jobs * chance
        groups.append(ForecastGroup(
            provider=step.target.provider, model=quote.model, variant=variant.name + RETRIES_SUFFIX,
            jobs=round(expected), images=round(expected * quote.images),
            known_credits=expected * (quote.credits or 0.0), known_money=expected * (quote.money or 0.0),
            unknown_jobs=0 if quote.known else round(expected),
        ))  # fmt: skip
    return groups
