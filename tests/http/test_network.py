"""new_client's pool with the cheaper idle check: it reuses live connections and never a closed one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tasks.http import new_client

_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@dataclass
class _Server:
    """A loopback HTTP/1.1 server that answers `per_connection` requests on a connection, then closes it."""

    per_connection: int
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        for _ in range(self.per_connection):
            if not await reader.readuntil(b"\r\n\r\n"):
                break
            writer.write(_REPLY)
            await writer.drain()
        writer.close()  # no "Connection: close" header: only the socket says the server is gone
        await writer.wait_closed()
        self.closed.set()


@asynccontextmanager
async def _serving(per_connection: int) -> AsyncIterator[tuple[_Server, str]]:
    server = _Server(per_connection)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}/"
    finally:
        listener.close()
        await listener.wait_closed()


def test_a_connection_the_server_closed_is_not_reused() -> None:
    async def main() -> tuple[list[str], int]:
        async with _serving(per_connection=1) as (server, url), new_client(timeout=5) as client:
            first = (await client.get(url)).text
            await asyncio.wait_for(server.closed.wait(), 5)
            # Reusing the closed connection would fail with "server disconnected"; the idle check drops it.
            second = (await client.get(url)).text
        return [first, second], server.connections

    assert asyncio.run(main()) == (["ok", "ok"], 2)


def test_a_live_idle_connection_is_reused() -> None:
    async def main() -> tuple[list[str], int]:
        async with _serving(per_connection=3) as (server, url), new_client(timeout=5) as client:
            texts = [(await client.get(url)).text for _ in range(3)]
        return texts, server.connections

    assert asyncio.run(main()) == (["ok", "ok", "ok"], 1)
