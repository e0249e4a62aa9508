"""Builders for the CLI tests that pay: configs against a sandbox, its ledger, a `retouch` subprocess's environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from tasks.sandbox import SandboxServer
from tests.helpers import make_catalog

ROOT = Path(__file__).parents[2]
RETOUCH = [sys.executable, "-m", "flows.cli"]


def paid_config(
    tmp_path: Path, sandbox: SandboxServer, *, rows: int = 3, fashn_seeds: tuple[int, ...] = (1,), **sections: Any
) -> dict[str, Any]:
    """picsart.edit (async) and fashn.edit on the sandbox over a small catalog, fast polls, no retry waits."""
    catalog = make_catalog(tmp_path, rows=rows)
    fast = {
        "api_key": "${RETOUCH_TEST_KEY:-sandbox-key}",  # through the environment, as a real key would be
        "poll_interval": 0.05,
        "retry": {"attempts": 3, "base": 0.01, "cap": 0.05},
    }
    return {
        "catalog": {"uri": str(catalog), "columns": {"id": "sku", "image": "src", "prompt": "instruction"}},
        "edits": [
            {"name": "pe", "provider": "picsart.edit", "params": {"format": "PNG"}, "seeds": [1]},
            {"name": "fa", "provider": "fashn.edit", "params": {"resolution": "1k"}, "seeds": list(fashn_seeds)},
        ],
        "providers": {
            "picsart.edit": {"base_url": f"{sandbox.base_url}/picsart/v1", "mode": "async", **fast},
            "fashn.edit": {"base_url": f"{sandbox.base_url}/fashn", **fast},
        },
        "output": {"uri": str(tmp_path / "out")},
        "execution": {"checkpoint_seconds": 0.2},
        **sections,
    }  # fmt: skip


def ledger(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """Every charge the sandbox still holds (one per billed job; X-Request-Id is the job key)."""
    return list(httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"])


def results(output: Path) -> pl.DataFrame:
    return pl.read_parquet(output / "results" / "*.parquet")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's hermetic environment for a `retouch` child, plus `extra`; it runs from the checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **extra}
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    return env
