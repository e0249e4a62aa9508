"""Provider names → where their adapters live: the data the config validates against, imported by nobody here.

Third-party providers register under the `retouch.providers` entry-point group (`name = "module:Class"`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

__all__ = ["ENTRY_POINT_GROUP", "known_providers", "provider_target"]

ENTRY_POINT_GROUP = "retouch.providers"

# name -> "module:Class". Configs name providers; code never branches on a provider's name.
_BUILT_IN: dict[str, str] = {
    "local": "tasks.providers.local:LocalProvider",
    "picsart.edit": "tasks.providers.picsart:PicsartEdit",
    "picsart.outpaint": "tasks.providers.picsart:PicsartOutpaint",
    "pixapi.edits": "tasks.providers.pixapi:PixapiEdits",
    "fashn.edit": "tasks.providers.fashn:FashnEdit",
}


@lru_cache(maxsize=1)
def _targets() -> dict[str, str]:
    plugins = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    return {**plugins, **_BUILT_IN}  # a plugin never shadows a built-in name


def known_providers() -> list[str]:
    """Every registered provider name, sorted."""
    return sorted(_targets())


def provider_target(name: str) -> str:
    """The `module:Class` registered under `name`.

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    try:
        return _targets()[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(known_providers())}") from None
