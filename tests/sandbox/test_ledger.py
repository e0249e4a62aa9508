"""Price lookup and the credit ledger, without HTTP."""

from __future__ import annotations

import pytest

from tasks.sandbox import SandboxSettings
from tasks.sandbox.fingerprints import request_fingerprint
from tasks.sandbox.ledger import CreditLedger, OutOfCredits
from tasks.sandbox.prices import PriceError, size_tier, unit_price


def test_size_tiers() -> None:
    assert [size_tier(None, None), size_tier(1536, 1024), size_tier(2048, 1152), size_tier(3840, 2160)] == [
        "1k", "1k", "2k", "4k",
    ]  # fmt: skip


def test_unit_price_levels_and_defaults() -> None:
    table = SandboxSettings().pixapi.prices
    assert unit_price(table, ["gpt-image-2"], "2k", "medium") == 17
    assert unit_price(table, ["gemini-3-pro-image-preview"], "4k", "high") == 16
    assert unit_price(table, ["gpt-image-1.5"], "4k", None) == 1
    assert unit_price({"edit": 1, "urn:x": 5}, ["urn:x", "edit"], "1k", None) == 5
    assert unit_price({"edit": 1}, ["urn:y", "edit"], "1k", None) == 1
    assert unit_price({"default": 3}, ["anything"], "1k", None) == 3
    assert unit_price({"m": {"1k": 2, "default": 9}}, ["m"], "4k", None) == 9
    with pytest.raises(PriceError, match="no price"):
        unit_price({"edit": 1}, ["outpaint"], "1k", None)
    with pytest.raises(PriceError, match="'8k'"):
        unit_price({"m": {"1k": 2}}, ["m"], "8k", None)


def test_subscription_credits_are_spent_first_and_refunds_put_them_back() -> None:
    settings = SandboxSettings.model_validate({"fashn": {"keys": {"k": {"credits": 5, "subscription": 3}}}})
    ledger = CreditLedger(settings)

    entry = ledger.charge("fashn", "k", 4, endpoint="/v1/run", job_id="j1", request_id=None, fingerprint="f")
    balance = ledger.balance("fashn", "k")
    assert (balance.subscription, balance.on_demand, balance.total) == (0, 4, 4)
    with pytest.raises(OutOfCredits):
        ledger.charge("fashn", "k", 5, endpoint="/v1/run", job_id="j2", request_id=None, fingerprint="f")

    ledger.refund("fashn", "k", entry)
    ledger.refund("fashn", "k", entry)  # twice: a no-op
    assert (balance.subscription, balance.on_demand) == (3, 5)
    assert ledger.entries() == [] and ledger.refunds == 1


def test_request_fingerprint_hashes_bytes_and_ignores_field_order() -> None:
    first = request_fingerprint({"prompt": "x", "image": b"\x89PNG", "seed": 1})
    assert first == request_fingerprint({"seed": 1, "image": b"\x89PNG", "prompt": "x"})
    assert first != request_fingerprint({"prompt": "x", "image": b"\x89PNG", "seed": 2})
