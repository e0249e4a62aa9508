"""The same app in-process, through ``httpx.ASGITransport`` (how adapter unit tests can use it)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tasks.sandbox import create_app
from tests.sandbox.helpers import BEARER, decode, fast_settings


def test_pixapi_task_through_asgi_transport(png: bytes) -> None:
    async def scenario() -> tuple[dict[str, Any], bytes]:
        app = create_app(fast_settings())
        transport = httpx.ASGITransport(app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test", headers=BEARER) as client:
                files = {"image": ("a.png", png, "image/png")}
                data = {"model": "nano-banana", "prompt": "x"}
                task = (await client.post("/pixapi/v1/async/images/edits", files=files, data=data)).json()
                while (body := (await client.get(f"/pixapi/v1/tasks/{task['id']}")).json())["status"] != "completed":
                    await asyncio.sleep(0.01)
                image = (await client.get(body["data"][0]["url"])).content
        finally:
            await app.state.sandbox.close()  # no lifespan under ASGITransport: close by hand
        return body, image

    body, image = asyncio.run(scenario())
    assert str(body["data"][0]["url"]).startswith("http://sandbox.test/cdn/pixapi/")
    assert decode(image).size == (48, 32)
