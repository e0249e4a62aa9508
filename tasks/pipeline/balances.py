"""Read the credit balance of each provider account a run bills, where the provider tells it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack

import httpx
import polars as pl

from tasks.core.config import PipelineConfig
from tasks.core.errors import ProviderError
from tasks.costs import AccountBalance, BalanceChange, balance_changes, read_ledger
from tasks.http import new_client
from tasks.providers.base import Provider
from tasks.providers.registry import provider_class
from tasks.storage.fs import Storage

__all__ = ["read_balances", "settle_balances"]


def read_balances(
    config: PipelineConfig,
    api_keys: Mapping[str, str | None],
    providers: Iterable[str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[AccountBalance, ...]:
    """Each account's credits, read once per account (one GET; nothing is billed).

    Providers whose adapter has no balance endpoint are left out. Providers that share a balance URL and
    a key share an account (picsart.edit and picsart.outpaint), read once and listed together.

    Args:
        config: the pipeline config (providers' base URLs and timeouts).
        api_keys: each provider's resolved key (never logged).
        providers: the providers the run uses.
        transport: replaces the network (tests inject an ASGI transport); None sends for real.

    Returns:
        One balance per account; a balance that could not be read has `credits` None and says why.
    """
    return asyncio.run(_read_all(config, api_keys, sorted(set(providers)), transport))


def settle_balances(
    before: Iterable[AccountBalance], after: Iterable[AccountBalance], storage: Storage, *, run_id: str
) -> tuple[BalanceChange, ...]:
    """Each account's balance before and after the run, against the credits of the run's ledger rows."""
    ledger = read_ledger(storage, run_id=run_id)
    per_provider = ledger.group_by("provider").agg(pl.col("credits").sum()).iter_rows()
    return balance_changes(before, after, {str(name): float(credits or 0.0) for name, credits in per_provider})


async def _read_all(
    config: PipelineConfig,
    api_keys: Mapping[str, str | None],
    providers: list[str],
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[AccountBalance, ...]:
    async with AsyncExitStack() as stack:
        accounts: dict[tuple[str, str | None], list[Provider]] = {}
        for name in providers:
            settings = config.provider_settings(name)
            client = await stack.enter_async_context(new_client(timeout=settings.timeout, transport=transport))
            adapter = provider_class(name)(settings=settings, client=client, api_key=api_keys.get(name))
            if adapter.balance_url is not None:  # the key is compared here, in memory, and kept nowhere
                accounts.setdefault((adapter.balance_url, api_keys.get(name)), []).append(adapter)
        return tuple(await asyncio.gather(*(_read_one(adapters) for adapters in accounts.values())))


async def _read_one(adapters: list[Provider]) -> AccountBalance:
    names = tuple(adapter.name for adapter in adapters)
    try:
        return AccountBalance(names, await adapters[0].balance())
    except ProviderError as error:
        return AccountBalance(names, None, problem=str(error))
