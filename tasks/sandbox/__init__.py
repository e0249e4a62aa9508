"""A local HTTP sandbox speaking the Picsart, Pixapi and FASHN contracts, with credits, limits and faults."""

from __future__ import annotations

from tasks.sandbox.app import create_app
from tasks.sandbox.server import SandboxServer, serve
from tasks.sandbox.settings import (
    FashnSettings,
    FaultRates,
    FaultSettings,
    KeyRateLimitSettings,
    KeySettings,
    PicsartSettings,
    PixapiSettings,
    SandboxSettings,
    load_sandbox_settings,
)

__all__ = [
    "FashnSettings",
    "FaultRates",
    "FaultSettings",
    "KeyRateLimitSettings",
    "KeySettings",
    "PicsartSettings",
    "PixapiSettings",
    "SandboxServer",
    "SandboxSettings",
    "create_app",
    "load_sandbox_settings",
    "serve",
]
