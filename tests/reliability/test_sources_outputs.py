"""Output URLs a provider returns are fetched under the source guards, through `Provider.fetch_output`.

A provider's answer chooses these URLs, so they get the same treatment as a catalog's: public addresses
unless the host is trusted by name (the provider's own base_url is), a byte cap after decompression, one
deadline, a pixel cap from the header. Failures map into the provider tree: gone or refused is
`JobFailed` (never re-bought), a transient failure is retryable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tasks.core.config import ProviderSettings
from tasks.core.errors import JobFailed, ProviderError, ProviderTimeout, ProviderUnavailable
from tasks.core.models import OutputImage
from tasks.providers.outputs import OutputLimits
from tasks.providers.registry import provider_class
from tests.helpers import make_png
from tests.reliability.sources_kit import SECRET, Hostile, hostile_server


@pytest.fixture(scope="module")
def server() -> Iterator[Hostile]:
    with hostile_server() as running:
        yield running


def _fetch(url: str, *, base_url: str = "https://api.example.test", deadline: float = 20.0) -> OutputImage:
    async def go() -> OutputImage:
        async with httpx.AsyncClient(timeout=deadline) as client:
            adapter = provider_class("fashn.edit")(
                settings=ProviderSettings(base_url=base_url, timeout=deadline),
                client=client,
                api_key="k",
                output_limits=OutputLimits(max_bytes=1_000_000, max_pixels=10_000_000, deadline=deadline),
            )
            return await adapter.fetch_output(OutputImage(data=None, format="png", source_url=url))

    return asyncio.run(go())


def test_an_output_on_the_providers_own_host_is_fetched(server: Hostile) -> None:
    image = _fetch(f"{server.base}/media/image.png", base_url=f"{server.base}/fashn")
    assert image.data == make_png()


@pytest.mark.parametrize(
    ("path", "family", "words"),
    [
        ("/secret", JobFailed, "loopback"),  # an output URL on an internal host the provider does not own
        ("/hop/3", JobFailed, "loopback"),
    ],
)
def test_an_output_url_pointing_inside_is_refused(server: Hostile, path: str, family: type, words: str) -> None:
    server.hits.clear()
    with pytest.raises(family, match=words) as caught:
        _fetch(f"{server.base}{path}")
    assert server.hits["/secret"] == 0 and SECRET.decode() not in str(caught.value)


@pytest.mark.parametrize(
    ("path", "family", "words"),
    [
        ("/media/bomb", JobFailed, "cap of 1000000 bytes"),
        ("/media/huge", JobFailed, "declares"),
        ("/media/nothing.png", JobFailed, "gone"),
        ("/media/drip", ProviderTimeout, "within 1.5s"),
        ("/secret", ProviderUnavailable, "do not decode"),
    ],
    ids=["gzip bomb", "declared 10 GB", "404", "dripping", "not an image"],
)
def test_outputs_on_the_providers_host_still_get_the_caps(
    server: Hostile, path: str, family: type[ProviderError], words: str
) -> None:
    deadline = 1.5 if path == "/media/drip" else 20.0  # only the dripping server is meant to hit it
    with pytest.raises(family, match=words):
        _fetch(f"{server.base}{path}", base_url=f"{server.base}/fashn", deadline=deadline)
