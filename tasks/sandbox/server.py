"""Running the sandbox: in a background thread on a free loopback port (tests), or blocking (the CLI)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette

from tasks.sandbox.app import PROVIDER_PREFIXES, create_app
from tasks.sandbox.responses import TRUNCATED_LOG_MESSAGE
from tasks.sandbox.settings import SandboxSettings
from tasks.sandbox.state import SandboxState

__all__ = ["SandboxServer", "serve"]


class _DropTruncationNoise(logging.Filter):
    """uvicorn logs an error for every response ended early; for the sandbox that is the `truncated`
    fault doing its job, so exactly that line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != TRUNCATED_LOG_MESSAGE


_FILTER = _DropTruncationNoise()


def _config(app: Starlette, log_level: str, access_log: bool) -> uvicorn.Config:
    # A short graceful shutdown: a `hang` reply must not hold the server open for its full hang_seconds.
    config = uvicorn.Config(
        app, log_level=log_level, access_log=access_log, lifespan="on", ws="none", timeout_graceful_shutdown=2
    )
    error_log = logging.getLogger("uvicorn.error")
    if _FILTER not in error_log.filters:
        error_log.addFilter(_FILTER)
    return config


class SandboxServer:
    """The sandbox on ``127.0.0.1`` and a free port, served by uvicorn in a background thread.

    Use as a context manager::

        with SandboxServer(settings) as server:
            httpx.get(f"{server.base_url}/fashn/v1/credits", headers={"Authorization": "Bearer sandbox-key"})
    """

    def __init__(
        self, settings: SandboxSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
        clock: Callable[[], float] = time.monotonic, log_level: str = "warning",
    ) -> None:  # fmt: skip
        self.app = create_app(settings, clock=clock)
        self._config = _config(self.app, log_level, access_log=False)
        self._server = uvicorn.Server(self._config)
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this; without it Nagle + delayed ACKs add ~40 ms to every reply
        # (uvicorn's own bind path gets it from asyncio; a socket handed in does not).
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.host, self.port = host, self._socket.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port``; the providers live under ``/picsart/v1``, ``/pixapi`` and ``/fashn``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def provider_urls(self) -> dict[str, str]:
        """Each provider's base URL, standing in for its public one (e.g. ``https://api.fashn.ai``)."""
        return {name: f"{self.base_url}{prefix}" for name, prefix in PROVIDER_PREFIXES.items()}

    @property
    def state(self) -> SandboxState:
        """The server's state (ledger, jobs...); read it only while no request is in flight."""
        state: SandboxState = self.app.state.sandbox
        return state

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: the server did not start within ``timeout`` seconds.
        """
        self._thread = threading.Thread(target=self._run, name=f"retouch-sandbox-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox server did not start on {self.base_url}")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._socket])

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: hanging replies end at once, running jobs are cancelled."""
        if self._thread is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.state.stopping.set)
            self._server.should_exit = True
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def serve(settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 8787, *,
          log_level: str = "info") -> None:  # fmt: skip
    """Serve the sandbox until interrupted (the ``retouch sandbox`` command).

    Args:
        settings: the sandbox settings (None: all defaults).
        host: the interface to listen on; keep the loopback default unless others must reach it.
        port: the TCP port.
        log_level: uvicorn's log level; request lines are logged at ``info`` (paths only, never keys).
    """
    config = _config(create_app(settings), log_level, access_log=True)
    config.host, config.port = host, port
    uvicorn.Server(config).run()
