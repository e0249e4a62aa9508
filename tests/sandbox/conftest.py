"""Fixtures for the sandbox suite: a real server on a loopback port, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import fast_settings, make_png


@pytest.fixture(scope="session")
def png() -> bytes:
    return make_png()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """The sandbox with default settings and fast jobs; tests reset it before use."""
    with SandboxServer(fast_settings()) as running:
        yield running


@pytest.fixture(scope="module")
def slow_server() -> Iterator[SandboxServer]:
    """Jobs take 0.4 s, so a test can see them pending however busy the machine is."""
    slow = {"async_seconds": 0.4}
    with SandboxServer(fast_settings(picsart=slow, pixapi=slow, fashn=slow)) as running:
        yield running


@pytest.fixture
def slow_client(slow_server: SandboxServer) -> Iterator[httpx.Client]:
    """A client on the slow server, freshly reset."""
    with httpx.Client(base_url=slow_server.base_url, timeout=10) as http:
        http.post("/_sandbox/reset").raise_for_status()
        yield http


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    """A client on a freshly reset server."""
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        http.post("/_sandbox/reset").raise_for_status()
        yield http
