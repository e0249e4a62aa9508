"""Credits per output image, looked up in a provider's price table by model, size tier and variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tasks.sandbox.settings import PriceRule

__all__ = ["PriceError", "size_tier", "unit_price"]


class PriceError(LookupError):
    """The price table has no entry for a request: a settings problem, answered as a server error."""


def size_tier(width: int | None, height: int | None) -> str:
    """The billing tier of an output size: ``1k`` (long edge <= 1536), ``2k`` (<= 2048), else ``4k``.

    Pixapi's gpt-image table uses these edges; an unknown (``auto``) size is billed as 1k, as documented.
    """
    if width is None or height is None:
        return "1k"
    edge = max(width, height)
    return "1k" if edge <= 1536 else "2k" if edge <= 2048 else "4k"


def unit_price(table: Mapping[str, PriceRule], names: Sequence[str], tier: str, variant: str | None) -> int:
    """Credits per output image.

    Args:
        table: the provider's price table (see ``PriceRule``).
        names: names to look up, most specific first (e.g. the model, then the operation).
        tier: ``1k``, ``2k`` or ``4k``, used when the rule is split by tier.
        variant: quality or generation mode, used when a tier is split further.

    Raises:
        PriceError: no name matches, or a split rule has neither the tier/variant nor a ``default``.
    """
    rule = next((table[name] for name in names if name in table), table.get("default"))
    if rule is None:
        raise PriceError(f"no price for any of {list(names)}; add one (or 'default') to the sandbox prices")
    if isinstance(rule, int):
        return rule
    level = _pick(rule, tier, names[0])
    if isinstance(level, int):
        return level
    price = _pick(level, variant or "default", names[0])
    if not isinstance(price, int):  # the settings type allows two levels only; kept for the checker
        raise PriceError(f"the price of {names[0]!r} is nested too deeply")
    return price


def _pick(rule: Mapping[str, Any], name: str, model: str) -> Any:
    value = rule.get(name, rule.get("default"))
    if value is None:
        raise PriceError(f"the price of {model!r} has no entry {name!r} and no 'default'; known: {sorted(rule)}")
    return value
