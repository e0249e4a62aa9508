"""Small local configs for the command-line tests (real catalogs, real runs, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import local_config, make_catalog, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Three rows × (two seeds as written + one mono) = 9 jobs; every one succeeds."""
    catalog = make_catalog(tmp_path, rows=3, prompts=["blur", "sepia", "invert"])
    return write_config(tmp_path, local_config(catalog, tmp_path / "out"))


@pytest.fixture
def failing_config(tmp_path: Path) -> Path:
    """As `config`, but row S1's prompt is one the local engine cannot read: its two as-written jobs fail."""
    catalog = make_catalog(tmp_path, rows=3, prompts=["blur", "make it pop", "sepia"])
    return write_config(tmp_path, local_config(catalog, tmp_path / "out"))
