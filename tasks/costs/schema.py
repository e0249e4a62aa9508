"""The typed shape of configs/pricing.yaml (and of a config's `pricing:` overrides once merged)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CreditValue",
    "Estimate",
    "OptionRule",
    "PriceEntry",
    "PricingFile",
    "ProviderPrices",
    "SizeTier",
    "size_tier",
]

DEFAULT = "default"
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SizeTier(_Strict):
    name: str = Field(min_length=1)
    max_edge: int | None = Field(default=None, ge=1, description="Largest long edge in px; unset on the last tier.")


class CreditValue(_Strict):
    """The money value of one credit from a date on."""

    effective_from: date
    money: float = Field(ge=0, description="Money (in `currency`) per credit.")
    source: str | None = None


class Estimate(_Strict):
    """How a provider is called, for duration forecasts."""

    mode: Literal["sync", "async", "local"] = Field(default="sync")
    latency_seconds: float = Field(default=10.0, ge=0, description="Expected seconds from submit to result.")


class OptionRule(_Strict):
    """How one pricing option is read from a job's params."""

    param: str = Field(min_length=1, description="The variant param holding the value.")
    as_: Literal["value", "size_tier"] = Field(default="value", alias="as")
    default: str | None = Field(default=None, description="The value when the param is unset.")
    map: dict[str, str] = Field(default_factory=dict, description="Values renamed before pricing (auto -> high).")

    @field_validator("default", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    def value(self, params: Mapping[str, Any], tiers: Sequence[SizeTier]) -> str | None:
        """The billed value for these params (None when unset with no default).

        A size that is neither WxH nor renamed by `map` stays as written, so the lookup fails on it and the
        error names it, instead of it being billed at a guessed tier.
        """
        raw = params.get(self.param)
        text = self.default if raw is None else str(raw)
        if text is None:
            return None
        text = self.map.get(text, text)
        if self.as_ == "size_tier":
            match = _SIZE.match(text)
            if match:
                return size_tier(int(match.group(1)), int(match.group(2)), tiers)
        return text


class PriceEntry(_Strict):
    """Credits for one model from a date on: a number, or nested by the options named in `by`."""

    effective_from: date
    per: Literal["image", "request"]
    by: list[str] = Field(default_factory=list)
    credits: float | dict[str, Any]
    source: str | None = None

    @model_validator(mode="after")
    def _credits_match_by(self) -> PriceEntry:
        _check_level(self.credits, self.by, "credits")
        return self

    @field_validator("credits", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        return _stringify_keys(value)


class ProviderPrices(_Strict):
    """Everything priced for one registered provider."""

    source: str | None = None
    credit_value: list[CreditValue] = Field(min_length=1)
    failed_billed: bool = Field(default=True, description="An accepted job that ends failed is still charged.")
    refunded_errors: list[str] = Field(
        default_factory=list,
        description="Failure names the provider documents as not charged (e.g. FASHN PipelineError), "
        "whatever failed_billed says.",
    )
    estimate: Estimate = Field(default_factory=lambda: Estimate())
    default_model: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)
    options: dict[str, OptionRule] = Field(default_factory=dict)
    models: dict[str, list[PriceEntry]] = Field(min_length=1)

    def option_values(self, params: Mapping[str, Any], tiers: Sequence[SizeTier]) -> dict[str, str | None]:
        """Each pricing option's billed value for a variant's params (None when unset with no default)."""
        return {name: rule.value(params, tiers) for name, rule in self.options.items()}

    @model_validator(mode="after")
    def _references_resolve(self) -> ProviderPrices:
        for model, entries in self.models.items():
            if not entries:
                raise ValueError(f"models.{model} has no entries; give at least one {{effective_from, per, credits}}")
            for entry in entries:
                unknown = [name for name in entry.by if name not in self.options]
                if unknown:
                    raise ValueError(
                        f"models.{model} (effective_from {entry.effective_from}) prices by {unknown}, "
                        f"which options does not define; defined: {sorted(self.options) or 'none'}"
                    )
            dates = [entry.effective_from for entry in entries]
            if len(set(dates)) != len(dates):
                raise ValueError(f"models.{model} has two entries with the same effective_from")
        missing = sorted({target for target in self.aliases.values() if target not in self.models})
        if missing:
            raise ValueError(f"aliases point at models without prices: {missing}")
        return self


class PricingFile(_Strict):
    """The whole price table."""

    currency: str = Field(default="USD", min_length=1)
    allow_unknown: bool = Field(default=False, description="Quote unpriced jobs as unknown instead of failing.")
    size_tiers: list[SizeTier] = Field(min_length=1)
    providers: dict[str, ProviderPrices] = Field(default_factory=dict)

    @field_validator("size_tiers")
    @classmethod
    def _tiers_ascend(cls, tiers: list[SizeTier]) -> list[SizeTier]:
        edges = [tier.max_edge for tier in tiers]
        if edges[-1] is not None or any(edge is None for edge in edges[:-1]):
            raise ValueError("every size tier but the last needs max_edge; the last has none (it takes the rest)")
        bounded = [edge for edge in edges if edge is not None]
        if bounded != sorted(set(bounded)):
            raise ValueError(f"size tier max_edge values must increase, got {bounded}")
        return tiers


def _check_level(node: Any, by: list[str], where: str) -> None:
    if not by:
        if isinstance(node, dict | bool) or not isinstance(node, int | float) or node < 0:
            raise ValueError(f"{where} must be a number of credits >= 0 here, got {node!r}")
        return
    if not isinstance(node, dict) or not node:
        raise ValueError(f"{where} must be a mapping by {by[0]} (e.g. {{1k: 2, {DEFAULT}: 4}}), got {node!r}")
    for key, value in node.items():
        _check_level(value, by[1:], f"{where}.{key}")


def _stringify_keys(value: Any) -> Any:
    # YAML reads `512: 4` with an int key; option values are always compared as text.
    if isinstance(value, dict):
        return {str(key): _stringify_keys(item) for key, item in value.items()}
    return value


def size_tier(width: int, height: int, tiers: Sequence[SizeTier]) -> str:
    """The name of the first tier whose `max_edge` holds the long edge (the last tier takes the rest).

    Args:
        width: output width in px.
        height: output height in px.
        tiers: the price table's `size_tiers`, ascending.
    """
    edge = max(width, height)
    for tier in tiers:
        if tier.max_edge is None or edge <= tier.max_edge:
            return tier.name
    return tiers[-1].name
