"""Provider name → adapter class, imported lazily so an unused provider costs nothing to load."""

from __future__ import annotations

import importlib

from tasks.core.registry import known_providers, provider_target
from tasks.providers.base import ProviderFactory

__all__ = ["known_providers", "provider_class"]


def provider_class(name: str) -> ProviderFactory:
    """The adapter class registered under `name` (see `tasks.core.registry`).

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    module_name, _, attribute = provider_target(name).partition(":")
    return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]
