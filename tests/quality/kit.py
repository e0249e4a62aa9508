"""Shared by the quality tests: a one-variant config on the demo catalog against a sandbox with faults set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import polars as pl
import yaml

from tasks.sandbox import SandboxServer
from tests.helpers import make_png

ROOT = Path(__file__).parents[2]


def provider(base_url: str, path: str) -> dict[str, Any]:
    return {
        "base_url": f"{base_url}/{path}",
        "api_key": "${SANDBOX_KEY:-sandbox-key}",
        "poll_interval": 0.02,
        "retry": {"attempts": 4, "base": 0.01, "cap": 0.05},
    }


def bytes_catalog(directory: Path, rows: int) -> Path:
    """A catalog whose images are bytes in the table, so its job keys are the same wherever it is written.

    A bad output is a function of (fault seed, provider, job key) and a path is part of a job's key: with
    the bytes in the table, a test draws the same bad outputs on every machine and checkout.
    """
    frame = pl.DataFrame(
        {
            "sku": [f"S{index:03d}" for index in range(rows)],
            "src": [make_png(seed=index) for index in range(rows)],
            "instruction": ["brightness 1.2"] * rows,
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(directory / "catalog.parquet")
    return directory / "catalog.parquet"


def write_config(
    sandbox: SandboxServer, tmp_path: Path, variant: dict[str, Any], faults: dict[str, Any],
    catalog: Path | None = None,
) -> Path:  # fmt: skip
    """A config of one variant on `catalog` (the demo's by default), against a sandbox reset with `faults`."""
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    httpx.put(f"{sandbox.base_url}/_sandbox/faults", json=faults).raise_for_status()
    raw = {
        "catalog": {
            "uri": str(catalog or ROOT / "data" / "demo" / "catalog.parquet"),
            "columns": {"id": "sku", "image": "src", "prompt": "instruction"},
        },
        "edits": [variant],
        "providers": {
            "pixapi.edits": provider(sandbox.base_url, "pixapi"),
            "fashn.edit": provider(sandbox.base_url, "fashn"),
        },
        "output": {"uri": str(tmp_path / "out")},
        "budget": {"confirm_above": None},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


PIXAPI = {"provider": "pixapi.edits", "model": "gemini-2.5-flash-image", "params": {"response_format": "b64_json"}}
FASHN = {"provider": "fashn.edit", "params": {"resolution": "1k", "output_format": "png"}}
