"""Helpers for the sandbox suite: settings, tiny images, decoding, polling, the ledger."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

from tasks.sandbox import SandboxSettings

PICSART = {"X-Picsart-API-Key": "sandbox-key"}
BEARER = {"Authorization": "Bearer sandbox-key"}
FAST = {"async_seconds": 0.05, "sync_seconds": 0.0}


def fast_settings(**overrides: Any) -> SandboxSettings:
    """Default settings with 50 ms async jobs, merged with per-provider ``overrides``."""
    raw: dict[str, Any] = {name: dict(FAST) for name in ("picsart", "pixapi", "fashn")}
    for name, value in overrides.items():
        raw[name] = {**raw.get(name, {}), **value} if isinstance(value, dict) and name in raw else value
    return SandboxSettings.model_validate(raw)


def make_png(width: int = 48, height: int = 32) -> bytes:
    """A small gradient (not flat, so every edit visibly changes pixels)."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 5 % 256, y * 7 % 256, (x + y) * 3 % 256) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """Decode image bytes fully (raises on truncated data)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(data: bytes) -> bytes:
    """The RGB pixels of an encoded image, for comparing edits with their input."""
    return decode(data).convert("RGB").tobytes()


def poll(
    client: httpx.Client, url: str, headers: dict[str, str], done: Callable[[httpx.Response], bool],
    timeout: float = 5.0,
) -> httpx.Response:  # fmt: skip
    """GET ``url`` until ``done(response)``; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url, headers=headers)
        if done(response):
            return response
        assert time.monotonic() < deadline, f"still not done: {response.status_code} {response.text[:200]}"
        time.sleep(0.01)


def ledger(client: httpx.Client) -> list[dict[str, Any]]:
    """The billed-jobs ledger's entries."""
    entries: list[dict[str, Any]] = client.get("/_sandbox/ledger").json()["entries"]
    return entries
