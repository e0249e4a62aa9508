"""Whether a provider charged for a job: the one rule the ledger, the budget and the results agree on."""

from __future__ import annotations

from enum import StrEnum

from tasks.core.models import EditResult
from tasks.costs.prices import Quote

__all__ = ["Stage", "failure_billed", "job_billed"]


class Stage(StrEnum):
    """How far a failed job got at the provider, which decides whether it was charged.

    Every contract in providers.md agrees: an error *answer* to a submit created nothing; a job the
    provider accepted is charged when accepted (and refunded only where its docs say so).
    """

    #: Never sent, or answered with an error before anything was created: not charged.
    REJECTED = "rejected"
    #: A submit that got no readable answer: the job may exist, and is counted as charged (billing_risk).
    UNKNOWN = "unknown"
    #: The provider ran the job and ended it failed: charged by its refund rule.
    VERDICT = "verdict"
    #: The provider finished the job; its outputs were lost on our side (404, cut short, unreadable).
    DELIVERED = "delivered"
    #: Accepted, then polling stopped before the provider said how it ended: counted as charged.
    ABANDONED = "abandoned"


def failure_billed(quote: Quote, stage: Stage | None, error_name: str | None) -> bool:
    """Whether a job that failed at `stage` was charged, by the provider's refund rule in the price table.

    Args:
        quote: the job's quote (carries `failed_billed` and `refunded_errors`).
        stage: where the job failed; None is a failure before anything was sent.
        error_name: the provider's own name for a verdict (e.g. FASHN `PipelineError`), if it gave one.
    """
    if stage in (Stage.UNKNOWN, Stage.DELIVERED, Stage.ABANDONED):
        return True
    if stage is Stage.VERDICT:
        return quote.failed_billed and error_name not in quote.refunded_errors
    return False


def job_billed(result: EditResult, quote: Quote) -> bool:
    """Whether the provider charged for one finished job.

    A succeeded job is charged (at 0 credits for a free engine: its ledger row still records the run).
    Otherwise the provider's own figure wins (credits reported, 0 for a refund); then what the run
    observed (`result.billed`); then, for results that carry neither, the status: unknown jobs are
    charged, failed ones only after the provider accepted them and when it bills failures.
    """
    if result.status == "skipped":
        return False  # never sent
    if result.status == "succeeded":
        return True
    if result.credits is not None:
        return result.credits > 0
    if result.billed is not None:
        return result.billed
    if result.status in ("succeeded", "unknown"):
        return True
    return quote.failed_billed and (result.provider_job_id is not None or result.billing_risk)
