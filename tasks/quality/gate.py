"""Score a job's stored outputs and judge them by the variant's accept rules, where the outputs are stored."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tasks.core.config import PipelineConfig
from tasks.core.models import EditJob, JobInputs, StoredOutput
from tasks.core.quality_config import Rule, parse_rules
from tasks.quality.metrics import Reference, Sample, builtin_scores, hash_distance, make_sample, reference
from tasks.quality.registry import Scorer, scorer

__all__ = ["QualityGate", "asked_size", "load_scorers", "score_sample", "verdict"]

ScoreValue = float | bool | str | None
# Decoded sources kept per shard (about 50 KB each at the common size): a row's jobs run close together.
_REFERENCES = 64


class QualityGate:
    """One shard's scorer: built-in scores, the variant's optional scorers, duplicates, and the verdict.

    Duplicates are measured against the outputs of the same row and variant this gate has already seen
    (the job's own earlier outputs, other seeds, earlier attempts): a row's jobs share a shard.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self._rules = {variant.name: parse_rules(variant.accept) for variant in config.edits}
        self._scorers = {variant.name: load_scorers(variant.scorers) for variant in config.edits}
        self._hashes: dict[tuple[str, str], list[str]] = {}
        self._references: OrderedDict[tuple[str, str | None], Reference] = OrderedDict()
        self._lock = threading.Lock()  # judge() runs in worker threads

    def judge(
        self, job: EditJob, stored: Sequence[StoredOutput], data: Sequence[bytes], inputs: JobInputs | None
    ) -> tuple[StoredOutput, ...]:
        """`stored` with their scores and verdicts (CPU work: call it off the event loop).

        Args:
            job: the job the outputs belong to.
            stored: the outputs as written.
            data: each output's bytes, in the same order.
            inputs: the job's loaded inputs (None for a job resumed by polling: no preservation scores).
        """
        source = self._reference(job, inputs)
        scored = []
        for output, image in zip(stored, data, strict=True):
            sample = make_sample(image, source, asked_size(job.params), job.prompt)
            scores = score_sample(sample, self._scorers[job.variant])
            scored.append(replace(output, scores=tuple(scores.items())))
        return self.judge_scored(job, scored)

    def judge_scored(self, job: EditJob, stored: Sequence[StoredOutput]) -> tuple[StoredOutput, ...]:
        """`stored`, already scored where their pixels were (`score_sample`), with duplicates and verdicts."""
        judged = []
        for output in stored:
            scores: dict[str, ScoreValue] = dict(output.scores)
            scores["duplicate_distance"] = self._nearest(job, scores.get("dhash"))
            accepted, rejected_by = verdict(self._rules[job.variant], scores)
            judged.append(replace(output, scores=tuple(scores.items()), accepted=accepted, rejected_by=rejected_by))
        return tuple(judged)

    def _reference(self, job: EditJob, inputs: JobInputs | None) -> Reference | None:
        """The job's source decoded once per shard, however many variants, seeds and retries use it."""
        if inputs is None or inputs.image.data is None:
            return None
        mask = inputs.mask.data if inputs.mask is not None else None
        key = (job.image.identity, job.mask.identity if job.mask is not None else None)
        with self._lock:
            found = self._references.get(key)
            if found is not None:
                self._references.move_to_end(key)
                return found
        found = reference(inputs.image.data, mask)
        with self._lock:
            self._references[key] = found
            while len(self._references) > _REFERENCES:
                self._references.popitem(last=False)
        return found

    def _nearest(self, job: EditJob, hashed: ScoreValue) -> int | None:
        if not isinstance(hashed, str):
            return None
        with self._lock:
            seen = self._hashes.setdefault((job.row_id, job.variant), [])
            nearest = min((hash_distance(hashed, other) for other in seen), default=None)
            seen.append(hashed)
        return nearest


def score_sample(sample: Sample, scorers: Sequence[tuple[str, Scorer]]) -> dict[str, ScoreValue]:
    """The built-in scores of one output and those of the variant's optional `scorers` (a failing one gives None)."""
    scores: dict[str, ScoreValue] = builtin_scores(sample)
    for name, function in scorers:
        scores.update(_optional(name, function, sample))
    return scores


def verdict(rules: Sequence[Rule], scores: Mapping[str, ScoreValue]) -> tuple[bool | None, str | None]:
    """(accepted, the failed rules' names joined by commas); (None, None) when there are no rules."""
    if not rules:
        return None, None
    failed = [rule.name for rule in rules if not rule.passes(_number(scores.get(rule.score)))]
    return not failed, ",".join(failed) or None


def asked_size(params: Mapping[str, Any]) -> tuple[int, int] | None:
    """The output size a request's params ask for (`size: 1024x1536` or `[w, h]`); None when they do not."""
    size = params.get("size")
    if isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    if isinstance(size, str) and "x" in size:
        width, _, height = size.lower().partition("x")
        if width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0:
            return int(width), int(height)
    return None


def _number(value: ScoreValue) -> float | bool | None:
    return value if isinstance(value, bool | int | float) else None


def load_scorers(names: Sequence[str]) -> list[tuple[str, Scorer]]:
    """The optional scorers `names`, from the registry (a variant's `scorers`)."""
    return [(name, scorer(name)) for name in names]


def _optional(name: str, function: Scorer, sample: Sample) -> dict[str, ScoreValue]:
    try:
        return dict(function(sample))
    except Exception:  # a user's scorer failing on one image must not fail the job it scores
        return {name: None}
