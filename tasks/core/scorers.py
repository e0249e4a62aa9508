"""Scorer names → where they live, and the score names accept rules may use: data the config validates against.

Third-party scorers register under the `retouch.scorers` entry-point group (`name = "module:function"`);
a scorer's values are named after it (`name`, or `name_<what>` for several), so a rule can use them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

__all__ = [
    "BOOLEAN_SCORES",
    "BUILT_IN_SCORES",
    "ENTRY_POINT_GROUP",
    "known_scorers",
    "rule_name_known",
    "scorer_target",
]

ENTRY_POINT_GROUP = "retouch.scorers"

# The scores every output gets (tasks/quality/metrics.py computes them; README "Quality" defines them).
BUILT_IN_SCORES = (
    "ssim_outside_mask",
    "changed",
    "blank",
    "clipped",
    "sharpness",
    "aspect_error",
    "duplicate_distance",
)
BOOLEAN_SCORES = ("blank",)

# Optional scorers a variant turns on by name (`scorers: [colorfulness]`).
_BUILT_IN: dict[str, str] = {"colorfulness": "tasks.quality.examples:colorfulness"}


@lru_cache(maxsize=1)
def _targets() -> dict[str, str]:
    plugins = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    return {**plugins, **_BUILT_IN}  # a plugin never shadows a built-in name


def known_scorers() -> list[str]:
    """Every registered optional scorer name, sorted."""
    return sorted(_targets())


def scorer_target(name: str) -> str:
    """The `module:function` registered under `name`.

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    try:
        return _targets()[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; known: {', '.join(known_scorers()) or 'none'}") from None


def rule_name_known(name: str, scorers: list[str]) -> bool:
    """Whether an accept rule may name the score `name`, given the optional scorers the variant runs."""
    base = name.removeprefix("not_")
    if base in BOOLEAN_SCORES or name in BUILT_IN_SCORES:
        return True
    return any(name == scorer or name.startswith(f"{scorer}_") for scorer in scorers)
