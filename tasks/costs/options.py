"""Read a job's pricing options (size tier, quality, resolution, ...) from its params, as the YAML says."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tasks.costs.schema import OptionRule, SizeTier

__all__ = ["option_values", "size_tier"]

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def size_tier(width: int, height: int, tiers: Sequence[SizeTier]) -> str:
    """The name of the first tier whose `max_edge` holds the long edge (the last tier takes the rest).

    Args:
        width: output width in px.
        height: output height in px.
        tiers: the price table's `size_tiers`, ascending.
    """
    edge = max(width, height)
    for tier in tiers:
        if tier.max_edge is None or edge <= tier.max_edge:
            return tier.name
    return tiers[-1].name


def option_values(
    rules: Mapping[str, OptionRule], params: Mapping[str, Any], tiers: Sequence[SizeTier]
) -> dict[str, str | None]:
    """Each option's billed value for these params (None when unset with no default).

    A size that is neither WxH nor renamed by `map` stays as written, so the lookup fails on it and the
    error names it, instead of it being billed at a guessed tier.
    """
    return {name: _value(rule, params, tiers) for name, rule in rules.items()}


def _value(rule: OptionRule, params: Mapping[str, Any], tiers: Sequence[SizeTier]) -> str | None:
    raw = params.get(rule.param)
    text = rule.default if raw is None else str(raw)
    if text is None:
        return None
    text = rule.map.get(text, text)
    if rule.as_ == "size_tier":
        match = _SIZE.match(text)
        if match:
            return size_tier(int(match.group(1)), int(match.group(2)), tiers)
    return text
