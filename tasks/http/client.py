"""The one way retouch builds an `httpx.AsyncClient`: a lean keep-alive pool and one shared SSL context."""

from __future__ import annotations

import httpcore
import httpx

from tasks.http.network import QuickCheckBackend
from tasks.http.pool import LeanPool

__all__ = ["lean_pool_fits", "new_client"]

# LeanPool probes only the idle connection it reuses (httpcore's own pool probes all of them, on every
# request and response: 20% of a remote run's CPU), so the keep-alive cap only bounds the sockets kept open.
# Idle connections are closed after 2 s, before the 5 s keep-alive of common servers (uvicorn, Node) ends
# them from the other side: a submit written into a connection the server is closing gets no answer and
# is held unknown with billing risk (measured: 3-6 of 5,000 jobs under load with httpx's 5 s default).
_POOL_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=2.0)
# The httpcore releases LeanPool fits: the pass it overrides came in 1.0.3; a 1.1 may change it (private API).
_LEAN_POOL_FROM, _LEAN_POOL_BEFORE = (1, 0, 3), (1, 1, 0)
# Building an SSL context costs milliseconds; every client of the process shares one.
_SSL_CONTEXT = httpx.create_ssl_context()


def new_client(*, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A client for providers and sources; its owner closes it (`async with` or `aclose()`).

    Args:
        timeout: seconds for each of connect, read, write and pool waits.
        transport: replaces the network (tests inject an ASGI or mock transport); None sends for real.
    """
    client = httpx.AsyncClient(transport=transport, timeout=timeout, limits=_POOL_LIMITS, verify=_SSL_CONTEXT)
    if transport is None:
        _use_lean_pool(client)
    return client


def _use_lean_pool(client: httpx.AsyncClient) -> None:
    """Swap the pool httpx built (still empty) for a LeanPool with the cheaper idle check, same settings.

    httpx has no parameter for httpcore's pool or network backend, and passing a transport of our own
    would turn off the proxies httpx reads from the environment. Only the plain pool (not a proxy's) is
    swapped, and only on the httpcore versions LeanPool was built against (it overrides a private method):
    elsewhere httpcore's own pool stays, with the cheaper idle check alone; if httpx's layout ever differs,
    httpcore's pool stays as it is. Both are slower, with the same behaviour.
    """
    transport = getattr(client, "_transport", None)
    if not isinstance(transport, httpx.AsyncHTTPTransport) or type(transport._pool) is not httpcore.AsyncConnectionPool:
        return
    if not lean_pool_fits(httpcore.__version__):
        if hasattr(transport._pool, "_network_backend"):
            transport._pool._network_backend = QuickCheckBackend()
        return
    transport._pool = LeanPool(
        ssl_context=_SSL_CONTEXT,
        max_connections=_POOL_LIMITS.max_connections,
        max_keepalive_connections=_POOL_LIMITS.max_keepalive_connections,
        keepalive_expiry=_POOL_LIMITS.keepalive_expiry,
        network_backend=QuickCheckBackend(),
    )


def lean_pool_fits(version: str) -> bool:
    """True for the httpcore releases whose pool LeanPool's pass was written and tested against (1.0.3 on)."""
    try:
        release = tuple(int(part) for part in version.split(".")[:3])
    except ValueError:
        return False  # a pre-release or local build: its internals are unknown
    return _LEAN_POOL_FROM <= release < _LEAN_POOL_BEFORE
