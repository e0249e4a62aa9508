"""Per-provider setting defaults, kept as data in configs/provider-defaults.yaml and merged once at load."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS_FILE", "merge_defaults"]

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "configs" / "provider-defaults.yaml"


@lru_cache(maxsize=1)
def _defaults() -> dict[str, dict[str, Any]]:
    if not DEFAULTS_FILE.exists():  # an install without the repo's configs/: the models' own defaults
        return {}
    return dict(yaml.safe_load(DEFAULTS_FILE.read_text()) or {})


def merge_defaults(name: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """A provider's raw settings with every key the user left unset filled from its documented defaults.

    Nested sections (`rate_limit`, `retry`, `options`) merge key by key, so setting one limit keeps the others.
    """
    base = dict(_defaults().get(name) or {})
    given = dict(given or {})
    merged = {**base, **given}
    for key, value in base.items():
        if isinstance(value, dict) and isinstance(given.get(key), dict):
            merged[key] = {**value, **given[key]}
    return merged
