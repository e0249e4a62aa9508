"""Scorer names → where they live, and the score names accept rules may use: data the config validates against.

Third-party scorers register under the `retouch.scorers` entry-point group (`name = "module:function"`);
a scorer's values are named after it (`name`, or `name_<what>` for several), so a rule can use them.
"""

from __future__ import annotations

from tasks.core.registry import EntryPointTargets

__all__ = [
    "BOOLEAN_SCORES",
    "BUILT_IN_SCORES",
    "ENTRY_POINT_GROUP",
    "SCORERS",
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


SCORERS = EntryPointTargets(ENTRY_POINT_GROUP, _BUILT_IN, "scorer")


def known_scorers() -> list[str]:
    """Every registered optional scorer name, sorted."""
    return SCORERS.names()


def scorer_target(name: str) -> str:
    """The `module:function` registered under `name`.

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    return SCORERS.target(name)


def rule_name_known(name: str, scorers: list[str]) -> bool:
    """Whether an accept rule may name the score `name`, given the optional scorers the variant runs."""
    base = name.removeprefix("not_")
    if base in BOOLEAN_SCORES or name in BUILT_IN_SCORES:
        return True
    return any(name == scorer or name.startswith(f"{scorer}_") for scorer in scorers)
