"""Fixtures for the reliability suite: one sandbox per module, reset (and its faults set) by each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.sandbox import SandboxServer, SandboxSettings

FAST = {"async_seconds": 0.05, "sync_seconds": 0.0}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox with 50 ms async jobs, on a loopback port."""
    settings = SandboxSettings.model_validate({name: dict(FAST) for name in ("picsart", "pixapi", "fashn")})
    with SandboxServer(settings) as server:
        yield server
