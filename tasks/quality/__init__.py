"""Quality: score every output, judge it by accept rules, and decide what a rejected job tries next."""

from __future__ import annotations

from tasks.quality.chain import Outcome, Step, chain_steps, first_seed, next_step, outcome, outcome_of, within_cap
from tasks.quality.gate import QualityGate, asked_size, load_scorers, score_sample, verdict
from tasks.quality.metrics import (
    Reference,
    Sample,
    builtin_scores,
    make_sample,
    reference,
    reference_from_pixels,
    sample_from_pixels,
)
from tasks.quality.registry import Scorer, scorer

__all__ = [
    "Outcome",
    "QualityGate",
    "Reference",
    "Sample",
    "Scorer",
    "Step",
    "asked_size",
    "builtin_scores",
    "chain_steps",
    "first_seed",
    "load_scorers",
    "make_sample",
    "next_step",
    "outcome",
    "outcome_of",
    "reference",
    "reference_from_pixels",
    "sample_from_pixels",
    "score_sample",
    "scorer",
    "verdict",
    "within_cap",
]
