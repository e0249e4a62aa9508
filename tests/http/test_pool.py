"""LeanPool against a loopback server: reuse, the keep-alive cap, expiry, and the connection limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpcore

from tasks.http.client import lean_pool_fits, new_client
from tasks.http.network import QuickCheckBackend
from tasks.http.pool import LeanPool
from tests.fakes import FakeClock

_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@dataclass
class _Server:
    """Answers every request on a connection until the client closes it; `/slow` waits for `release`."""

    opened: int = 0
    closed_by_client: int = 0
    busy: int = 0
    most_busy: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        while head := await reader.read(65536):
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
            if head.startswith(b"GET /slow"):
                await self.release.wait()
            else:
                await asyncio.sleep(0)  # let other requests overlap
            self.busy -= 1
            writer.write(_REPLY)
            await writer.drain()
        self.closed_by_client += 1
        writer.close()


@asynccontextmanager
async def _serving() -> AsyncIterator[tuple[_Server, str]]:
    server = _Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    try:
        yield server, f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()


def _pool(clock: FakeClock | None = None, **limits: int | float) -> LeanPool:
    settings: dict[str, int | float] = {"max_connections": 8, "max_keepalive_connections": 4, "keepalive_expiry": 5.0}
    return LeanPool(**(settings | limits), network_backend=QuickCheckBackend(), clock=clock or FakeClock())


async def _get(pool: LeanPool, url: str) -> bytes:
    response = await pool.request("GET", url)
    return response.content


def test_busy_connections_do_not_push_idle_ones_out() -> None:
    """httpcore 1.0 counts busy connections against the keep-alive cap and reconnects; LeanPool reuses."""

    async def main() -> tuple[int, int]:
        async with _serving() as (server, url), _pool(max_keepalive_connections=1) as pool:
            slow = [asyncio.create_task(_get(pool, f"{url}/slow")) for _ in range(3)]
            while server.busy < 3:
                await asyncio.sleep(0.01)
            for _ in range(3):  # three in a row beside three busy connections: one idle connection serves them
                assert await _get(pool, f"{url}/fast") == b"ok"
            server.release.set()
            await asyncio.gather(*slow)
            return server.opened, len(pool.connections)

    opened, kept = asyncio.run(main())
    assert opened == 4
    assert kept == 1  # the keep-alive cap holds once the busy connections go idle


def test_idle_connections_past_their_expiry_are_closed_not_reused(clock: FakeClock) -> None:
    async def main() -> tuple[int, int]:
        async with _serving() as (server, url), _pool(clock, keepalive_expiry=2.0) as pool:
            await _get(pool, url)
            clock.now += 1.0
            await _get(pool, url)  # within the expiry: reused
            clock.now += 2.5
            await _get(pool, url)  # past it: a new connection
            for _ in range(100):
                if server.closed_by_client:
                    break
                await asyncio.sleep(0.01)
            return server.opened, server.closed_by_client

    assert asyncio.run(main()) == (2, 1)


def test_requests_beyond_the_connection_limit_wait_for_a_free_connection() -> None:
    async def main() -> tuple[list[bytes], int, int]:
        async with _serving() as (server, url), _pool(max_connections=2, max_keepalive_connections=2) as pool:
            bodies = await asyncio.gather(*(_get(pool, url) for _ in range(20)))
            return bodies, server.opened, server.most_busy

    bodies, opened, most_busy = asyncio.run(main())
    assert bodies == [b"ok"] * 20
    assert opened == 2
    assert most_busy == 2


def test_a_connection_to_another_origin_makes_room_at_the_limit() -> None:
    async def main() -> tuple[int, int, int]:
        async with _serving() as (first, url_a), _serving() as (second, url_b), _pool(max_connections=1) as pool:
            await _get(pool, url_a)
            await _get(pool, url_b)  # the pool is full with an idle connection to A: A's is closed for B's
            for _ in range(100):
                if first.closed_by_client:
                    break
                await asyncio.sleep(0.01)
            return first.closed_by_client, second.opened, len(pool.connections)

    assert asyncio.run(main()) == (1, 1, 1)


def test_a_cancelled_request_leaves_the_pool_usable() -> None:
    async def main() -> bytes:
        async with _serving() as (server, url), _pool(max_connections=1) as pool:
            waiting = asyncio.create_task(_get(pool, f"{url}/slow"))
            while server.busy < 1:
                await asyncio.sleep(0.01)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            return await _get(pool, url)

    assert asyncio.run(main()) == b"ok"


def test_clients_get_the_lean_pool_only_on_the_httpcore_releases_it_was_built_for() -> None:
    assert lean_pool_fits("1.0.3") and lean_pool_fits("1.0.9") and lean_pool_fits("1.0.12")
    assert not any(lean_pool_fits(version) for version in ("1.0.2", "1.1.0", "2.0.0", "1.0.10rc1", "dev"))

    async def pool_of_a_new_client() -> object:
        async with new_client(timeout=1.0) as client:
            return client._transport._pool

    # The release installed here is one it fits: a pin that lets in an untried release fails here first.
    assert lean_pool_fits(httpcore.__version__)
    assert type(asyncio.run(pool_of_a_new_client())) is LeanPool
