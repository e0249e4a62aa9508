"""The price table: load configs/pricing.yaml plus config overrides, and quote a job's credits and money."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from tasks.core.errors import ConfigError, UnknownPrice
from tasks.core.models import EditJob
from tasks.costs.merge import merge_pricing
from tasks.costs.schema import DEFAULT, PriceEntry, PricingFile, ProviderPrices

__all__ = ["DEFAULT_PRICING_PATH", "PriceTable", "Quote", "load_price_table"]

DEFAULT_PRICING_PATH = Path(__file__).resolve().parents[2] / "configs" / "pricing.yaml"


@dataclass(frozen=True)
class Quote:
    """What one request is expected to cost; `credits` is None when the price is unknown.

    `options` are the billed option values (e.g. size=2k, quality=high); `entry_id` names the price
    entry used (provider/model@effective_from[options]) so a report can say where a figure came from.
    """

    provider: str
    model: str
    options: tuple[tuple[str, str | None], ...]
    images: int
    credits: float | None
    money: float | None
    per: Literal["image", "request"] | None
    unit_credits: float | None
    credit_value: float | None
    currency: str
    entry_id: str | None
    source: str | None
    failed_billed: bool
    reason: str | None = None
    refunded_errors: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.credits is not None

    def money_for(self, credits: float | None) -> float | None:
        """The money of `credits` at this quote's credit value (None when either is unknown)."""
        if credits is None or self.credit_value is None:
            return None
        return credits * self.credit_value


class PriceTable:
    """A validated price table. Build it with `load_price_table`."""

    def __init__(self, pricing: PricingFile) -> None:
        self.pricing = pricing

    @property
    def currency(self) -> str:
        return self.pricing.currency

    @property
    def allow_unknown(self) -> bool:
        return self.pricing.allow_unknown

    def provider(self, name: str) -> ProviderPrices | None:
        """The price block of one provider, if the table has one."""
        return self.pricing.providers.get(name)

    def credit_value(self, provider: str, at: date) -> float | None:
        """Money per credit of `provider` in force on `at` (None if none is)."""
        prices = self.provider(provider)
        if prices is None:
            return None
        value = _in_force(prices.credit_value, at)
        return value.money if value is not None else None

    def quote_job(self, job: EditJob, at: date) -> Quote:
        """`quote` for one job (its provider, model, params and count)."""
        return self.quote(job.provider, job.model, job.params, job.count, at)

    def quote(self, provider: str, model: str | None, params: Mapping[str, Any], count: int, at: date) -> Quote:
        """Credits and money of one request asking for `count` output images, at prices in force on `at`.

        Args:
            provider: registered provider name, e.g. pixapi.edits.
            model: the variant's model (None: the provider's default model); aliases resolve.
            params: the variant's params; the provider's `options` rules read the pricing tiers from them.
            count: output images asked for (Picsart count, Pixapi n, FASHN num_images).
            at: the date whose prices apply (the entry with the latest effective_from on or before it).

        Raises:
            UnknownPrice: nothing prices this provider/model/options on `at`, and allow_unknown is off.
        """
        prices = self.provider(provider)
        name = model or (prices.default_model if prices else None) or DEFAULT
        canonical = prices.aliases.get(name, name) if prices else (model or "")
        options = prices.option_values(params, self.pricing.size_tiers) if prices else _as_text(params)
        try:
            if prices is None:
                raise _NoPrice(
                    f"no prices for provider {provider!r} (priced: {', '.join(sorted(self.pricing.providers))})"
                )
            return self._priced(provider, prices, canonical, options, count, at)
        except _NoPrice as miss:
            return self._unknown(provider, canonical, options, at, miss.reason, count)

    def _priced(
        self, provider: str, prices: ProviderPrices, model: str, options: dict[str, str | None], count: int, at: date
    ) -> Quote:
        entries, priced_as = _entries(prices, model)
        entry: PriceEntry | None = _in_force(entries, at)
        if entry is None:
            first = min(item.effective_from for item in entries)
            raise _NoPrice(f"its first price takes effect on {first}")
        value = _in_force(prices.credit_value, at)
        if value is None:
            raise _NoPrice(f"no credit_value is in force on {at}")
        unit, used = _lookup(entry.credits, entry.by, options)
        credits = unit * count if entry.per == "image" else unit
        label = ",".join(f"{key}={val}" for key, val in zip(entry.by, used, strict=True))
        return Quote(
            provider=provider,
            model=model,
            options=tuple(options.items()),
            images=count,
            credits=credits,
            money=credits * value.money,
            per=entry.per,
            unit_credits=unit,
            credit_value=value.money,
            currency=self.currency,
            entry_id=f"{provider}/{priced_as}@{entry.effective_from}" + (f"[{label}]" if label else ""),
            source=entry.source or prices.source,
            failed_billed=prices.failed_billed,
            refunded_errors=tuple(prices.refunded_errors),
        )

    def _unknown(
        self, provider: str, model: str, options: Mapping[str, Any], at: date, reason: str, count: int
    ) -> Quote:
        shown = {key: value for key, value in options.items() if value is not None}
        if not self.allow_unknown:
            raise UnknownPrice(
                f"no price for provider {provider!r}, model {model!r}, options {shown} on {at}: {reason}. "
                f"Add one under `pricing: providers: {provider}: models: {model or DEFAULT}:` in the config "
                f"(same shape as configs/pricing.yaml), or set `pricing: {{allow_unknown: true}}` to run "
                "with this cost reported as unknown",
                provider=provider,
                model=model,
                options=shown,
            )
        prices = self.provider(provider)
        value = self.credit_value(provider, at)
        return Quote(
            provider=provider, model=model, options=tuple(options.items()), images=count, credits=None, money=None,
            per=None, unit_credits=None, credit_value=value, currency=self.currency, entry_id=None,
            source="unknown", failed_billed=prices.failed_billed if prices else True, reason=reason,
            refunded_errors=tuple(prices.refunded_errors) if prices else (),
        )  # fmt: skip


def load_price_table(overrides: Mapping[str, Any] | None = None, *, path: str | Path | None = None) -> PriceTable:
    """Read the shipped price table, merge a config's `pricing:` section on top, and validate.

    Args:
        overrides: the config's `pricing` mapping (same shape as the file; see configs/pricing.yaml).
        path: the price table file (default: configs/pricing.yaml of this checkout).

    Raises:
        ConfigError: the file cannot be read, or the merged table is invalid (each bad key is named by
            its path, e.g. pricing.providers.pixapi.edits.models.gpt-image-2[0].credits).
    """
    source = Path(path) if path is not None else DEFAULT_PRICING_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read price table {str(source)!r}: {error}", path=str(source)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level", path=str(source))
    merged = merge_pricing(raw, overrides or {})
    try:
        return PriceTable(PricingFile.model_validate(merged))
    except ValidationError as error:
        raise ConfigError(_describe(error, str(source)), path=str(source)) from None


def _as_text(params: Mapping[str, Any]) -> dict[str, str | None]:
    return {key: None if value is None else str(value) for key, value in params.items()}


class _NoPrice(Exception):
    """Internal: why a lookup found no price (turned into UnknownPrice or an unknown quote)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _entries(prices: ProviderPrices, model: str) -> tuple[list[PriceEntry], str]:
    if model in prices.models:
        return prices.models[model], model
    if DEFAULT in prices.models:
        return prices.models[DEFAULT], DEFAULT
    raise _NoPrice(f"model {model!r} has no price (priced: {', '.join(sorted(prices.models))})")


def _in_force(entries: Sequence[Any], at: date) -> Any:
    # Entries carry `effective_from`; the one in force is the latest on or before `at`.
    started = [entry for entry in entries if entry.effective_from <= at]
    return max(started, key=lambda entry: entry.effective_from) if started else None


def _lookup(
    node: float | dict[str, Any], by: Sequence[str], options: Mapping[str, str | None]
) -> tuple[float, list[str]]:
    """Credits per unit and the key taken at each level (a value or `default`).

    Raises:
        _NoPrice: a level lists neither the option's value nor `default`.
    """
    used: list[str] = []
    for name in by:
        assert isinstance(node, dict)  # validated: one mapping level per `by` name
        value = options.get(name)
        key = value if value is not None and value in node else DEFAULT
        if key not in node:
            listed = ", ".join(sorted(node))
            raise _NoPrice(f"no credits for {name}={value!r} (listed: {listed}; add it or a {DEFAULT!r} entry)")
        used.append(key)
        node = node[key]
    assert not isinstance(node, dict)
    return float(node), used


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid price table ({source} merged with the config's pricing:):"]
    for item in error.errors():
        where = "pricing"
        for part in item["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling and where it sits"
        shown = (
            "" if isinstance(item.get("input"), dict) or item["type"] == "missing" else f" (got {item.get('input')!r})"
        )
        lines.append(f"  {where}: {message}{shown}")
    return "\n".join(lines)
