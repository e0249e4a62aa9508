"""Merge a config's `pricing:` overrides onto the shipped price table, before validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["merge_pricing"]

# Per-provider keys holding dated lists, merged by effective_from rather than replaced.
_DATED_LISTS = ("credit_value",)
# Per-provider keys holding mappings, merged key by key.
_MAPPINGS = ("aliases", "options", "estimate")


def merge_pricing(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The shipped table with the user's overrides on top (both raw, as read from YAML).

    Lists of dated entries merge by `effective_from` (the same date replaces, a new date adds), mappings
    merge key by key, anything else replaces. A provider the table does not know is added whole.

    Args:
        base: the parsed configs/pricing.yaml.
        override: the config's `pricing:` section, in the same shape.

    Returns:
        A new raw mapping, ready for validation; neither input is changed.
    """
    merged = dict(base)
    for key, value in override.items():
        if key == "providers" and isinstance(value, Mapping):
            merged[key] = _merge_providers(dict(base.get("providers") or {}), value)
        else:
            merged[key] = value
    return merged


def _merge_providers(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for name, block in override.items():
        current = base.get(name)
        if not isinstance(current, Mapping) or not isinstance(block, Mapping):
            base[name] = block
            continue
        base[name] = _merge_provider(current, block)
    return base


def _merge_provider(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = base.get(key)
        if key in _DATED_LISTS and isinstance(current, list) and isinstance(value, list):
            merged[key] = _merge_dated(current, value)
        elif key in _MAPPINGS and isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = {**current, **value}
        elif key == "models" and isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge_models(current, value)
        else:
            merged[key] = value
    return merged


def _merge_models(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for model, entries in override.items():
        current = base.get(model)
        if isinstance(current, list) and isinstance(entries, list):
            merged[model] = _merge_dated(current, entries)
        else:
            merged[model] = entries
    return merged


def _merge_dated(base: list[Any], override: list[Any]) -> list[Any]:
    by_date: dict[str, Any] = {}
    for entry in [*base, *override]:
        key = str(entry.get("effective_from")) if isinstance(entry, Mapping) else repr(entry)
        by_date[key] = entry
    return list(by_date.values())
