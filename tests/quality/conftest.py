"""The quality tests' sandbox: every provider answering async jobs fast (one server per test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.sandbox import SandboxServer, SandboxSettings


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    fast = {"async_seconds": 0.02}
    with SandboxServer(
        SandboxSettings.model_validate({n: dict(fast) for n in ("picsart", "pixapi", "fashn")})
    ) as server:
        yield server
