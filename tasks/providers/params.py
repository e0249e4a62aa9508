"""Declarative checks of a variant's provider params against documented ranges (raise ValueError)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Bool", "Choice", "IntRange", "NumberRange", "Spec", "Text", "check_params", "check_range", "form_value"]


class Spec(Protocol):
    def check(self, name: str, value: Any) -> None:
        """Raise ValueError naming the param, its value and what is accepted."""


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]
    case_sensitive: bool = True

    def check(self, name: str, value: Any) -> None:
        candidate = value if self.case_sensitive or not isinstance(value, str) else value.upper()
        allowed = self.values if self.case_sensitive else tuple(v.upper() for v in self.values)
        if not isinstance(value, str) or candidate not in allowed:
            raise ValueError(f"param {name}={value!r} is not one of {', '.join(self.values)}")


@dataclass(frozen=True)
class IntRange:
    low: int | None = None
    high: int | None = None

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"param {name}={value!r} must be an integer {_describe(self.low, self.high)}")
        check_range(name, value, self.low, self.high)


@dataclass(frozen=True)
class NumberRange:
    low: float | None = None
    high: float | None = None

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"param {name}={value!r} must be a number {_describe(self.low, self.high)}")
        check_range(name, value, self.low, self.high)


@dataclass(frozen=True)
class Bool:
    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"param {name}={value!r} must be true or false")


@dataclass(frozen=True)
class Text:
    max_length: int | None = None
    url: bool = False

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError(f"param {name}={value!r} must be a non-empty string")
        if self.url and not value.startswith(("http://", "https://")):
            raise ValueError(f"param {name}={value!r} must be an http(s) URL")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"param {name} is {len(value)} characters long; at most {self.max_length} are accepted")


def check_params(
    provider: str, params: Mapping[str, Any], specs: Mapping[str, Spec], reserved: Mapping[str, str]
) -> None:
    """Check every param against its spec.

    Args:
        specs: the params the variant may set, by name.
        reserved: params the job supplies (count, model, seed, ...) → where to set them instead.

    Raises:
        ValueError: reserved or unknown params (listing the known ones), or values out of range; every bad
            param is named in the one message, joined by "; ".
    """
    problems: list[str] = []
    for name, value in params.items():
        if name in reserved:
            problems.append(f"param {name} cannot be set in params for {provider}; {reserved[name]}")
            continue
        spec = specs.get(name)
        if spec is None:
            problems.append(f"unknown param {name!r} for {provider}; known: {', '.join(sorted(specs))}")
            continue
        try:
            spec.check(name, value)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ValueError("; ".join(problems))


def check_range(name: str, value: float, low: float | None, high: float | None) -> None:
    """Raise ValueError when `value` is outside low..high (either end may be open)."""
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={value!r} is out of range; accepted: {_describe(low, high)}")


def form_value(value: Any) -> str:
    """A param as a multipart form value (JSON-style booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{_num(low)}..{_num(high)}"
    if low is not None:
        return f">= {_num(low)}"
    if high is not None:
        return f"<= {_num(high)}"
    return "(any)"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
