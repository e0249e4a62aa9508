"""Command-line shorthands for sandbox settings: `--latency 0.2`, `--faults http_5xx=0.1,http_429=0.05`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tasks.core.errors import ConfigError
from tasks.sandbox.settings import SandboxSettings

__all__ = ["apply_options"]

_PROVIDERS = ("picsart", "pixapi", "fashn")


def apply_options(
    settings: SandboxSettings, *, latency: str | None = None, faults: str | None = None, seed: int | None = None
) -> SandboxSettings:
    """`settings` with the command line's latency (every provider), fault rates and seed applied.

    Raises:
        ConfigError: a value does not parse or is out of range, naming the option.
    """
    data = settings.model_dump()
    if latency is not None:
        value = _latency(latency)
        for provider in _PROVIDERS:
            data[provider]["latency"] = value
    if faults:
        data["faults"].update(_rates(faults))
    if seed is not None:
        data["faults"]["seed"] = seed
    try:
        return SandboxSettings.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"sandbox options: {problems}") from None


def _latency(text: str) -> Any:
    low, dash, high = text.partition("-")
    try:
        return [float(low), float(high)] if dash else float(low)
    except ValueError:
        raise ConfigError(f"--latency {text!r}: use seconds (0.2) or a range (0.1-0.4)") from None


def _rates(text: str) -> dict[str, float]:
    rates = {}
    for item in text.split(","):
        name, equals, value = item.strip().partition("=")
        try:
            rates[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--faults {item!r}: use name=rate, e.g. http_5xx=0.1") from None
        if not equals:
            raise ConfigError(f"--faults {item!r}: use name=rate, e.g. http_5xx=0.1")
    return rates
