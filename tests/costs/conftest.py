"""Fixtures for the costs tests."""

from __future__ import annotations

import pytest

from tasks.costs import PriceTable, load_price_table


@pytest.fixture(scope="session")
def table() -> PriceTable:
    """The shipped configs/pricing.yaml, unmodified."""
    return load_price_table()
