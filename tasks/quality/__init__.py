"""Quality: score every output, judge it by accept rules, and decide what a rejected job tries next."""

from __future__ import annotations

from tasks.quality.chain import Outcome, Step, chain_steps, first_seed, next_step, outcome, outcome_of, within_cap
from tasks.quality.gate import QualityGate, asked_size, verdict
from tasks.quality.metrics import Reference, Sample, builtin_scores, make_sample, reference
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
    "make_sample",
    "next_step",
    "outcome",
    "outcome_of",
    "reference",
    "scorer",
    "verdict",
    "within_cap",
]
