"""A variant's quality settings: accept rules, regeneration, fallback providers, and the cost cap per accepted image."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["FallbackTarget", "OnReject", "Rule", "parse_rule", "parse_rules"]

_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One accept rule: a score compared with a number, or a boolean score required true or false."""

    name: str
    score: str
    op: str
    threshold: float | bool

    def passes(self, value: float | bool | None) -> bool:
        """Whether `value` passes; a score that could not be computed (None) passes, since it cannot judge."""
        if value is None:
            return True
        if isinstance(self.threshold, bool):
            return bool(value) is self.threshold
        return _OPERATORS[self.op](float(value), self.threshold)


def parse_rule(name: str, spec: Any) -> Rule:
    """A rule from its YAML form: `changed: ">= 0.02"`, `not_blank: true`, `blank: false`.

    Raises:
        ValueError: the spec is neither a comparison like ">= 0.85" nor true/false; names the rule.
    """
    if isinstance(spec, bool):
        score, wanted = (name[4:], not spec) if name.startswith("not_") else (name, spec)
        return Rule(name=name, score=score, op="is", threshold=wanted)
    match = _COMPARISON.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(
            f'rule {name!r}: expected a comparison like ">= 0.85" (>=, <=, >, <, ==, != and a number) '
            f"or true/false, got {spec!r}"
        )
    return Rule(name=name, score=name, op=match.group(1), threshold=float(match.group(2)))


def parse_rules(rules: Mapping[str, Any]) -> tuple[Rule, ...]:
    """Every rule of a variant's `accept`, in the order written (see `parse_rule`)."""
    return tuple(parse_rule(name, spec) for name, spec in rules.items())


class OnReject(BaseModel):
    """What to do when an output is rejected by the accept rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_seeds: int = Field(0, ge=0, le=10, description="Ask the same provider again with this many next seeds.")


class FallbackTarget(BaseModel):
    """A provider a job moves to when the ones before it reject, fail or run out (a bare name is accepted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str | None = None
    params: dict[str, Any] = Field(
        default_factory=dict, description="This provider's params (the variant's are not reused)."
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"provider": data} if isinstance(data, str) else data
