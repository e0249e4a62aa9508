"""Prefect's temporary API server for a command: started early (beside the catalog's planning), waited for last.

The server takes seconds to start (it imports Prefect's whole server and opens its database), about as long as
`retouch run` takes to read, plan and price the catalog; started one after the other, the two added up. So
the server is spawned as soon as the config is valid, and the run waits for it only when the flow starts.

The process is Prefect's own ephemeral server (`prefect.server.api.server:create_app` under uvicorn, with
the environment Prefect's `SubprocessASGIServer` gives it, prefect 3.8.8), spawned here rather than through
that class because importing it loads the server into this process too: ~1-2.5 s of CPU that the planning
would wait for. Once it answers, PREFECT_API_URL names it, so Prefect's client uses it as it would a server
the user runs. SIGINT is blocked in the child: the terminal's Ctrl-C reaches every process of its group,
and the server must outlive the first one (see `flows.interrupt`).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tasks.core.errors import OrchestratorUnavailable

__all__ = ["TemporaryApi", "temporary_servers"]

_POLL_SECONDS = 0.05  # between health checks while the server starts (it answers ~1 s after its imports end)
_PORT_TAKEN = 3  # uvicorn's exit code when another process took the port between our choice and its bind
# Prefect imports these lazily when it creates a flow run (~0.2 s; fastapi's encoder for the parameters): while
# the server starts, the CLI has nothing else to do, so they are loaded then and off the path to the first image.
_LOADED_BY_A_FLOW_RUN = ("prefect.flow_engine", "fastapi.encoders")
_SERVERS: list[subprocess.Popen[bytes]] = []  # the temporary servers this process started and has not stopped


def temporary_servers() -> tuple[subprocess.Popen[bytes], ...]:
    """The temporary API servers this process started and still runs (a second Ctrl-C ends them)."""
    return tuple(process for process in _SERVERS if process.poll() is None)


class TemporaryApi:
    """Prefect's temporary API server, unless PREFECT_API_URL names one: `begin()` early, `wait()` last.

    Nothing is started when the user runs a server (PREFECT_API_URL, from the environment or a Prefect
    profile): it is theirs, and stays theirs to stop. The temporary server ends with this process.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._started = 0.0

    def begin(self) -> None:
        """Spawn the server and return at once; nothing when an API is configured or it already runs."""
        if self._process is not None or _api_configured():
            return
        self._spawn()
        atexit.register(self.stop)  # registered before Prefect's own exit handlers, so it runs after them

    def wait(self) -> None:
        """Return when Prefect's client talks to a live API: the configured one, or the temporary server.

        Raises:
            OrchestratorUnavailable: the temporary server did not answer within
                PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (or exited); nothing has been sent.
        """
        from prefect.context import refresh_global_settings_context
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        if PREFECT_API_URL.value():  # set by a Prefect profile, which only Prefect's settings read
            self.stop()
            return
        self.begin()
        for module in _LOADED_BY_A_FLOW_RUN:
            importlib.import_module(module)
        self._until_healthy(float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()))
        os.environ["PREFECT_API_URL"] = self.api_url  # Dask workers and any later child inherit it
        refresh_global_settings_context()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/api"

    def stop(self) -> None:
        """End the temporary server, if this object started one."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process in _SERVERS:
            _SERVERS.remove(process)

    def _spawn(self) -> None:
        self._port = _free_port()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a child inherits the mask
        try:
            self._process = subprocess.Popen(_server_command(self._port), env=_server_environment())
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._started = time.monotonic()
        _SERVERS.append(self._process)

    def _until_healthy(self, timeout: float) -> None:
        deadline = self._started + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                assert self._process is not None
                code = self._process.poll()
                if code == _PORT_TAKEN:
                    _SERVERS.remove(self._process)
                    self._spawn()
                    deadline = self._started + timeout
                elif code is not None:
                    self._failed(f"it exited with code {code}")
                elif _healthy(client, self.api_url):
                    return
                if time.monotonic() >= deadline:
                    self._failed(f"timed out after {timeout:g} s")
                time.sleep(_POLL_SECONDS)

    def _failed(self, why: str) -> None:
        self.stop()
        raise OrchestratorUnavailable(
            f"Prefect's temporary API server did not start ({why}). Nothing was sent. On a busy machine "
            "give it longer (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, 120 s by default here), or "
            "start one server for every run: `prefect server start`, then "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )


def _api_configured() -> bool:
    """Whether PREFECT_API_URL names a server, asked without importing Prefect (~0.7 s) when it is not loaded.

    Only the environment is read then; a Prefect profile's value is seen by `TemporaryApi.wait`, which stops
    the server this spawned for nothing.
    """
    if "prefect.settings" in sys.modules:  # already loaded (a test harness, a caller in Python): ask it, free
        from prefect.settings import PREFECT_API_URL

        return bool(PREFECT_API_URL.value())
    return bool(os.environ.get("PREFECT_API_URL"))


def _healthy(client: httpx.Client, api_url: str) -> bool:
    try:
        return client.get(f"{api_url}/health").status_code == 200
    except httpx.TransportError:  # not listening yet, or accepted before its app was ready
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_command(port: int) -> list[str]:
    """Prefect's ephemeral server under uvicorn on loopback, as `SubprocessASGIServer` runs it."""
    spec = importlib.util.find_spec("prefect")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations is not None
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
        "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


def _server_environment() -> dict[str, str]:
    # As Prefect sets them for its ephemeral server: no UI, the ephemeral server's set of services.
    return {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
