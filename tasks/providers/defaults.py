"""Per-provider setting defaults, kept as data in configs/provider-defaults.yaml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tasks.config import ProviderSettings

__all__ = ["DEFAULTS_FILE", "with_defaults"]

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "configs" / "provider-defaults.yaml"


@lru_cache(maxsize=1)
def _defaults() -> dict[str, dict[str, Any]]:
    if not DEFAULTS_FILE.exists():  # an install without the repo's configs/: the models' own defaults
        return {}
    return dict(yaml.safe_load(DEFAULTS_FILE.read_text()) or {})


def with_defaults(name: str, settings: ProviderSettings | None) -> ProviderSettings:
    """`settings` with every key the user left unset filled from the provider's documented defaults."""
    base = dict(_defaults().get(name) or {})
    given = settings.model_dump(exclude_unset=True) if settings is not None else {}
    if settings is not None and settings.api_key is not None:
        given["api_key"] = settings.api_key  # keep it a SecretStr, never a plain dump
    merged = {**base, **given}
    for key, value in base.items():  # nested sections (rate_limit, retry) merge key by key
        if isinstance(value, dict) and isinstance(given.get(key), dict):
            merged[key] = {**value, **given[key]}
    return ProviderSettings.model_validate(merged)
