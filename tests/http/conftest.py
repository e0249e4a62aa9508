"""Fixtures for tests/http: a fake clock that moves virtual time instead of sleeping."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock

__all__ = ["FakeClock"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
