"""Scorer name → scoring function, imported lazily (see `tasks.core.scorers` for the names and the entry points).

A scorer is any callable taking a `Sample` and returning its values by name:

    def colorfulness(sample: Sample) -> Mapping[str, float | bool | None]:
        return {"colorfulness": ...}

Register it in your package's metadata (`[project.entry-points."retouch.scorers"] name = "module:function"`)
and turn it on per variant with `scorers: [name]`; its values become results columns and accept rules may
name them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from tasks.core.scorers import known_scorers, scorer_target
from tasks.quality.metrics import Sample

__all__ = ["Scorer", "known_scorers", "scorer"]

Scorer = Callable[[Sample], Mapping[str, float | bool | str | None]]


def scorer(name: str) -> Scorer:
    """The scoring function registered under `name`.

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    module_name, _, attribute = scorer_target(name).partition(":")
    found: Scorer = getattr(importlib.import_module(module_name), attribute)
    return found
