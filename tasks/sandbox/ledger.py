"""Per-key credit balances and the ledger of billed jobs (one entry per charge still standing)."""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tasks.sandbox.fingerprints import key_fingerprint
from tasks.sandbox.settings import PROVIDERS, ProviderName, SandboxSettings

__all__ = ["Balance", "CreditLedger", "LedgerEntry", "OutOfCredits"]


class OutOfCredits(Exception):
    """The key's balance is below the price of the request."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"this request needs {needed} credits and {available} are available")
        self.needed = needed
        self.available = available


@dataclass
class Balance:
    """One key's credits; FASHN spends subscription credits before on-demand ones."""

    subscription: int
    on_demand: int

    @property
    def total(self) -> int:
        return self.subscription + self.on_demand


@dataclass
class LedgerEntry:
    """One billed job. The key is kept only as its fingerprint."""

    entry_id: int
    provider: ProviderName
    endpoint: str
    key_fingerprint: str
    job_id: str
    credits: int
    time: float
    request_id: str | None
    request_fingerprint: str
    # How the charge was split, so a refund puts the credits back where they came from.
    _split: tuple[int, int] = field(default=(0, 0), repr=False)

    def public(self) -> dict[str, Any]:
        """The entry as JSON for the admin endpoint."""
        data = asdict(self)
        del data["_split"]
        return data


class CreditLedger:
    """Balances per (provider, key) and the entries of every standing charge.

    Charges are taken when a job is accepted; a provider whose docs say a failure is not billed
    refunds it, which removes its entry, so the ledger always lists exactly the billed jobs.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        self._settings = settings
        self._ids = itertools.count(1)
        self._balances: dict[tuple[ProviderName, str], Balance] = {}
        self._entries: dict[int, LedgerEntry] = {}
        self.refunds = 0
        self.reset()

    def reset(self) -> None:
        """Balances back to their configured values; entries cleared."""
        self._balances = {
            (name, key): Balance(subscription=grant.subscription, on_demand=grant.credits)
            for name in PROVIDERS
            for key, grant in self._settings.provider(name).keys.items()
        }
        self._entries.clear()
        self.refunds = 0

    def knows(self, provider: ProviderName, key: str) -> bool:
        """Whether the key is accepted by the provider."""
        return (provider, key) in self._balances

    def balance(self, provider: ProviderName, key: str) -> Balance:
        """The key's balance (the key must be known)."""
        return self._balances[(provider, key)]

    def charge(
        self, provider: ProviderName, key: str, credits: int, *, endpoint: str, job_id: str,
        request_id: str | None, fingerprint: str,
    ) -> LedgerEntry:  # fmt: skip
        """Debit the key and record the entry.

        Raises:
            OutOfCredits: the balance is below ``credits``; nothing is debited.
        """
        balance = self._balances[(provider, key)]
        if balance.total < credits:
            raise OutOfCredits(credits, balance.total)
        from_subscription = min(balance.subscription, credits)
        balance.subscription -= from_subscription
        balance.on_demand -= credits - from_subscription
        entry = LedgerEntry(
            entry_id=next(self._ids), provider=provider, endpoint=endpoint, key_fingerprint=key_fingerprint(key),
            job_id=job_id, credits=credits, time=time.time(), request_id=request_id,
            request_fingerprint=fingerprint, _split=(from_subscription, credits - from_subscription),
        )  # fmt: skip
        self._entries[entry.entry_id] = entry
        return entry

    def check(self, provider: ProviderName, key: str, credits: int) -> None:
        """Raise OutOfCredits unless the key could pay ``credits`` now."""
        available = self._balances[(provider, key)].total
        if available < credits:
            raise OutOfCredits(credits, available)

    def refund(self, provider: ProviderName, key: str, entry: LedgerEntry) -> None:
        """Give a charge back and drop its entry (a no-op when already refunded)."""
        if self._entries.pop(entry.entry_id, None) is None:
            return
        balance = self._balances[(provider, key)]
        balance.subscription += entry._split[0]
        balance.on_demand += entry._split[1]
        self.refunds += 1

    def entries(self) -> list[dict[str, Any]]:
        """Every standing charge, oldest first."""
        return [entry.public() for entry in self._entries.values()]

    def balances(self) -> dict[str, dict[str, dict[str, int]]]:
        """Provider -> key fingerprint -> {total, subscription, on_demand}."""
        result: dict[str, dict[str, dict[str, int]]] = {name: {} for name in PROVIDERS}
        for (name, key), balance in self._balances.items():
            result[name][key_fingerprint(key)] = {
                "total": balance.total, "subscription": balance.subscription, "on_demand": balance.on_demand,
            }  # fmt: skip
        return result
