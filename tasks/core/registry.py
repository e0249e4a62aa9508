"""Provider names → where their adapters live: the data the config validates against, imported by nobody here.

Third-party providers register under the `retouch.providers` entry-point group (`name = "module:Class"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

__all__ = ["ENTRY_POINT_GROUP", "PROVIDERS", "EntryPointTargets", "known_providers", "provider_target"]

ENTRY_POINT_GROUP = "retouch.providers"

# name -> "module:Class". Configs name providers; code never branches on a provider's name.
_BUILT_IN: dict[str, str] = {
    "local": "tasks.providers.local:LocalProvider",
    "picsart.edit": "tasks.providers.picsart:PicsartEdit",
    "picsart.outpaint": "tasks.providers.picsart:PicsartOutpaint",
    "pixapi.edits": "tasks.providers.pixapi:PixapiEdits",
    "fashn.edit": "tasks.providers.fashn:FashnEdit",
}


class EntryPointTargets:
    """Names → `module:attr` targets: the built-in ones plus an entry-point group's, read once per process.

    Args:
        group: the entry-point group plugins register under.
        built_in: the names shipped with retouch (a plugin never shadows one).
        noun: what a name names, for the unknown-name message ("provider", "scorer").
    """

    def __init__(self, group: str, built_in: Mapping[str, str], noun: str) -> None:
        self._group, self._built_in, self._noun = group, dict(built_in), noun
        self._targets: dict[str, str] | None = None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._read())

    def target(self, name: str) -> str:
        """The `module:attr` registered under `name`.

        Raises:
            KeyError: the name is not registered; the message lists the known names.
        """
        try:
            return self._read()[name]
        except KeyError:
            raise KeyError(f"unknown {self._noun} {name!r}; known: {', '.join(self.names()) or 'none'}") from None

    def refresh(self) -> None:
        """Read the entry points again at the next lookup (after installing a plugin in this process)."""
        self._targets = None

    def _read(self) -> dict[str, str]:
        if self._targets is None:
            plugins = {point.name: point.value for point in entry_points(group=self._group)}
            self._targets = {**plugins, **self._built_in}
        return self._targets


PROVIDERS = EntryPointTargets(ENTRY_POINT_GROUP, _BUILT_IN, "provider")


def known_providers() -> list[str]:
    """Every registered provider name, sorted."""
    return PROVIDERS.names()


def provider_target(name: str) -> str:
    """The `module:Class` registered under `name`.

    Raises:
        KeyError: the name is not registered; the message lists the known names.
    """
    return PROVIDERS.target(name)
