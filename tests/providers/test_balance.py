"""`balance()`: the adapters that have a balance endpoint read it (translate only), against the sandbox's own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tasks.core.config import ProviderSettings
from tasks.core.errors import AuthError
from tasks.providers.registry import provider_class
from tasks.sandbox import SandboxSettings, create_app

BASES = {
    "picsart.edit": "/picsart/v1",
    "picsart.outpaint": "/picsart/v1",
    "fashn.edit": "/fashn",
    "pixapi.edits": "/pixapi",
}
CREDITS = {"picsart": {"keys": {"k": {"credits": 120}}}, "fashn": {"keys": {"k": {"credits": 30, "subscription": 12}}}}


def read_balance(name: str, key: str = "k") -> Any:
    async def scenario() -> Any:
        app = create_app(SandboxSettings.model_validate({**CREDITS, "pixapi": {"keys": {"k": {}}}}))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app)) as client:
                settings = ProviderSettings(base_url=f"http://sandbox.test{BASES[name]}")
                adapter = provider_class(name)(settings=settings, client=client, api_key=key)
                return adapter.balance_url, await adapter.balance()
        finally:
            await app.state.sandbox.close()  # no lifespan under ASGITransport: close by hand

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("name", "url", "credits"),
    [
        ("picsart.edit", "http://sandbox.test/picsart/v1/balance", 120.0),
        ("picsart.outpaint", "http://sandbox.test/picsart/v1/balance", 120.0),  # one account, one URL
        ("fashn.edit", "http://sandbox.test/fashn/v1/credits", 42.0),  # total = subscription + on demand
        ("pixapi.edits", None, None),  # no documented balance endpoint
    ],
)
def test_each_adapter_reads_its_documented_balance(name: str, url: str | None, credits: float | None) -> None:
    assert read_balance(name) == (url, credits)


def test_a_refused_key_is_an_auth_error_that_never_shows_the_key() -> None:
    with pytest.raises(AuthError) as raised:
        read_balance("fashn.edit", key="sk-wrong-0123456789")
    assert "balance read failed with HTTP 401" in str(raised.value)
    assert "sk-wrong-0123456789" not in str(raised.value)
