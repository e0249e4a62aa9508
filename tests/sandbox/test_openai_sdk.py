"""One real third-party client against the Pixapi mount: the OpenAI Python SDK's ``images.edit``."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import decode, ledger, pixels


@pytest.fixture
def sdk(server: SandboxServer, client: httpx.Client) -> OpenAI:
    return OpenAI(api_key="sandbox-key", base_url=f"{server.base_url}/pixapi/v1", max_retries=0)


@pytest.fixture
def png_file(tmp_path: Path, png: bytes) -> Path:
    path = tmp_path / "product.png"
    path.write_bytes(png)
    return path


def test_images_edit_b64_json(sdk: OpenAI, png_file: Path, png: bytes, client: httpx.Client) -> None:
    with png_file.open("rb") as image:
        result = sdk.images.edit(
            model="gpt-image-1.5", image=image, prompt="studio light", n=1, response_format="b64_json"
        )

    assert result.data is not None and len(result.data) == 1 and result.created > 0
    assert result.data[0].b64_json is not None
    edited = base64.b64decode(result.data[0].b64_json)
    assert decode(edited).size == (48, 32) and pixels(edited) != pixels(png)
    assert [entry["credits"] for entry in ledger(client)] == [1]


def test_images_edit_url(sdk: OpenAI, png_file: Path) -> None:
    with png_file.open("rb") as image:
        result = sdk.images.edit(model="gpt-image-1.5", image=image, prompt="sepia", n=2, response_format="url")

    assert result.data is not None and len(result.data) == 2
    assert all(item.url is not None and decode(httpx.get(item.url).content) for item in result.data)


def test_images_edit_with_several_images_and_a_wrong_key(server: SandboxServer, png_file: Path) -> None:
    sdk = OpenAI(api_key="sandbox-key", base_url=f"{server.base_url}/pixapi/v1", max_retries=0)
    with png_file.open("rb") as first, png_file.open("rb") as second:
        result = sdk.images.edit(model="nano-banana", image=[first, second], prompt="x", response_format="b64_json")
    assert result.data is not None and len(result.data) == 1

    wrong = OpenAI(api_key="not-a-key", base_url=f"{server.base_url}/pixapi/v1", max_retries=0)
    with png_file.open("rb") as image, pytest.raises(Exception, match="401") as raised:
        wrong.images.edit(model="gpt-image-1.5", image=image, prompt="x")
    assert type(raised.value).__name__ == "AuthenticationError"
