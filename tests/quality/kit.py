"""Shared by the quality tests: a one-variant config on the demo catalog against a sandbox with faults set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tasks.sandbox import SandboxServer

ROOT = Path(__file__).parents[2]


def provider(base_url: str, path: str) -> dict[str, Any]:
    return {
        "base_url": f"{base_url}/{path}",
        "api_key": "${SANDBOX_KEY:-sandbox-key}",
        "poll_interval": 0.02,
        "retry": {"attempts": 4, "base": 0.01, "cap": 0.05},
    }


def write_config(sandbox: SandboxServer, tmp_path: Path, variant: dict[str, Any], faults: dict[str, Any]) -> Path:
    """A config of one variant on the demo catalog, against a sandbox reset with `faults`."""
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    httpx.put(f"{sandbox.base_url}/_sandbox/faults", json=faults).raise_for_status()
    raw = {
        "catalog": {
            "uri": str(ROOT / "data" / "demo" / "catalog.parquet"),
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
