"""Stand-ins for keys and requests: short hashes the ledger, logs and public settings show instead."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["key_fingerprint", "request_fingerprint"]


def key_fingerprint(key: str) -> str:
    """A short, stable stand-in for an API key in bodies, logs and the ledger (never the key itself)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def request_fingerprint(fields: Mapping[str, Any]) -> str:
    """sha256 of a request's identity: prompt, inputs (bytes hashed, URLs as text), params and seed."""
    canonical = {name: _canonical(value) for name, value in fields.items()}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
