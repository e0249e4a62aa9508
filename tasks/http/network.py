"""httpcore's network backend with a cheaper idle-connection check: one poll, not a getpeername and a poll.

httpcore asks every idle pooled connection "did the server close you?" on every request and every
response it finishes (`is_readable`). Its anyio stream answers by rebuilding anyio's attribute table,
which calls `getpeername()` each time: measured at 7% of a remote run's CPU, more than the poll itself.
This backend wraps anyio's and keeps the socket found once per connection.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

__all__ = ["QuickCheckBackend"]

# httpcore's SOCKET_OPTION, spelled out (its alias lives in a private module).
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class _Stream(httpcore.AsyncNetworkStream):
    """An anyio stream whose `is_readable` polls the socket it looked up once."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


class QuickCheckBackend(httpcore.AsyncNetworkBackend):
    """anyio's backend (httpcore's default under asyncio) with streams that check idleness cheaply."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _Stream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _readable(sock: socket.socket | None) -> bool:
    """True when a read would not block: data, or the peer's close (so the connection is not reused).

    A socket that is gone reads as readable, as httpcore's own check does: the connection is dropped.
    """
    if sock is None or sock.fileno() < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        ready, _, _ = select.select([sock], [], [], 0)
        return bool(ready)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))
