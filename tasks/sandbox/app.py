"""The sandbox ASGI app: the three providers' contracts, the CDN and the admin API on one server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tasks.sandbox import admin, fashn, picsart, pixapi
from tasks.sandbox.files import serve_file
from tasks.sandbox.responses import json_reply
from tasks.sandbox.settings import SandboxSettings
from tasks.sandbox.state import SandboxState
from tasks.sandbox.stats import StatsMiddleware

__all__ = ["PROVIDER_PREFIXES", "create_app"]

#: Where each provider's contract is mounted; the path after it mirrors the provider's own base URL.
PROVIDER_PREFIXES = {"picsart": "/picsart/v1", "pixapi": "/pixapi", "fashn": "/fashn"}


def create_app(settings: SandboxSettings | None = None, *, clock: Callable[[], float] = time.monotonic) -> Starlette:
    """Build the sandbox app.

    Args:
        settings: the sandbox settings; None means all defaults (key ``sandbox-key`` everywhere).
        clock: monotonic seconds for expiry and rate limits; tests pass a clock they move by hand.

    Returns:
        A Starlette app; its state is at ``app.state.sandbox`` (a ``SandboxState``).
    """
    state = SandboxState(settings or SandboxSettings(), clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await state.close()

    app = Starlette(
        routes=[
            Route("/", _index, methods=["GET"]),
            Mount(PROVIDER_PREFIXES["picsart"], routes=picsart.routes()),
            Mount(PROVIDER_PREFIXES["pixapi"], routes=pixapi.routes()),
            Mount(PROVIDER_PREFIXES["fashn"], routes=fashn.routes()),
            Route("/cdn/{provider}/{name}", serve_file, methods=["GET"]),
            Mount("/_sandbox", routes=admin.routes()),
        ],
        middleware=[Middleware(StatsMiddleware, stats=state.stats)],
        lifespan=lifespan,
    )
    app.state.sandbox = state
    return app


async def _index(request: Request) -> Response:
    root = str(request.base_url).rstrip("/")
    base_urls = {name: f"{root}{prefix}" for name, prefix in PROVIDER_PREFIXES.items()}
    return json_reply({"sandbox": "retouch provider sandbox", "base_urls": base_urls, "admin": f"{root}/_sandbox"})
