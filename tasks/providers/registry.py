"""Provider name → adapter class, imported lazily so an unused provider costs nothing to load."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.providers.base import ProviderFactory

__all__ = ["known_providers", "provider_class"]

# name -> "module:Class". Configs name providers; code never branches on a provider's name.
_REGISTRY: dict[str, str] = {
    "local": "tasks.providers.local:LocalProvider",
    "picsart.edit": "tasks.providers.picsart:PicsartEdit",
    "picsart.outpaint": "tasks.providers.picsart:PicsartOutpaint",
    "pixapi.edits": "tasks.providers.pixapi:PixapiEdits",
    "fashn.edit": "tasks.providers.fashn:FashnEdit",
}


def known_providers() -> list[str]:
    """Every registered provider name, sorted."""
    return sorted(_REGISTRY)


def provider_class(name: str) -> ProviderFactory:
    """The adapter class registered under `name`.

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(known_providers())}") from None
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]
