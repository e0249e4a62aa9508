"""httpcore's connection pool with a linear pass that probes only the idle connection it is about to reuse.

httpcore 1.0 runs its pass (`_assign_requests_to_connections`) on every request and every response close.
Each pass asks every idle connection `has_expired()` (a poll syscall on its socket), counts idle
connections once per connection (quadratic), and compares *all* connections, busy ones too, with
`max_keepalive_connections`, so that it closes idle connections whenever more than that many exist (then
reconnects: encode/httpcore#1000). It can also close or re-assign an idle connection it already gave to a
request that has not sent yet (encode/httpcore#1110). Measured on a remote run: ~9 passes, ~100
`has_expired` calls and ~40 polls per job, a fifth of the run's CPU.

This pass keeps the contract and is linear: an idle connection is probed (keep-alive expiry *and* "did the
server close it?", httpcore's own `has_expired`) right when it is picked for a request, in the same
synchronous step that assigns it, so a connection the server closed is never reused; idle connections not
picked are closed once they have been idle for `keepalive_expiry` (by this pool's own clock) or are
beyond `max_keepalive_connections`. The most recently used idle connection is picked first (as Go's
http.Transport does): it is the least likely to have been closed by the server, and the others expire.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpcore

from tasks.http.clock import Clock, SystemClock

__all__ = ["LeanPool"]

Connection = httpcore.AsyncConnectionInterface


class _PoolRequest(Protocol):
    """What the pass uses of httpcore's queued request (its class is private)."""

    request: httpcore.Request
    connection: Connection | None

    def is_queued(self) -> bool: ...

    def assign_to_connection(self, connection: Connection | None) -> None: ...


class LeanPool(httpcore.AsyncConnectionPool):
    """`httpcore.AsyncConnectionPool` (same arguments) with the cheaper pass described above.

    Args:
        clock: times how long connections sit idle (tests move it by hand); the system clock when None.
    """

    def __init__(self, *args: Any, clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock or SystemClock()
        self._idle_since: dict[Connection, float] = {}  # when this pool first saw each connection idle

    def _assign_requests_to_connections(self) -> list[Connection]:
        closing: list[Connection] = []
        reserved = {request.connection for request in self._requests if request.connection is not None}
        idle = self._sweep(self._clock.monotonic(), reserved, closing)
        for request in self._requests:
            if request.is_queued():
                self._assign(request, idle, reserved, closing)
        return closing

    def _sweep(self, now: float, reserved: set[Connection], closing: list[Connection]) -> list[Connection]:
        """Drop closed connections, close idle ones past their expiry or the keep-alive cap; the idle rest,
        most recently idle last. A connection given to a request that has not sent yet is not idle."""
        kept: list[Connection] = []
        idle: list[tuple[float, Connection]] = []
        expiry = self._keepalive_expiry
        for connection in self._connections:
            if connection.is_closed():
                self._idle_since.pop(connection, None)
                continue
            if not connection.is_idle() or connection in reserved:
                self._idle_since.pop(connection, None)
                kept.append(connection)
                continue
            since = self._idle_since.setdefault(connection, now)
            if expiry is not None and now - since > expiry:
                self._drop(connection, closing)
                continue
            kept.append(connection)
            idle.append((since, connection))
        self._connections = kept
        idle.sort(key=lambda item: item[0])
        surplus = len(idle) - self._max_keepalive_connections
        for _, connection in idle[: max(surplus, 0)]:
            self._connections.remove(connection)
            self._drop(connection, closing)
        return [connection for _, connection in idle[max(surplus, 0) :]]

    def _assign(
        self, request: _PoolRequest, idle: list[Connection], reserved: set[Connection], closing: list[Connection]
    ) -> None:
        """Give a queued request a connection: a live idle one, a new one, or a new one in an idle one's place."""
        origin = request.request.url.origin
        for connection in idle[::-1]:  # a copy: picked or expired ones leave `idle` on the way
            if not connection.can_handle_request(origin):
                continue
            idle.remove(connection)
            if connection.has_expired():  # the probe: expired, or closed by the server while idle
                self._connections.remove(connection)
                self._drop(connection, closing)
                continue
            self._give(request, connection, reserved)
            return
        for connection in self._connections:  # connections that take more than one request (HTTP/2)
            if connection.can_handle_request(origin) and connection.is_available() and not connection.is_idle():
                self._give(request, connection, reserved)
                return
        if len(self._connections) >= self._max_connections:
            if not idle:
                return  # stays queued until a connection frees up
            other = idle.pop(0)  # the longest idle, of another origin: close it to make room
            self._connections.remove(other)
            self._drop(other, closing)
        connection = self.create_connection(origin)
        self._connections.append(connection)
        self._give(request, connection, reserved)

    def _give(self, request: _PoolRequest, connection: Connection, reserved: set[Connection]) -> None:
        reserved.add(connection)
        self._idle_since.pop(connection, None)
        request.assign_to_connection(connection)

    def _drop(self, connection: Connection, closing: list[Connection]) -> None:
        self._idle_since.pop(connection, None)
        closing.append(connection)
