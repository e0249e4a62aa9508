"""Builders for the reliability suite: sandbox-backed configs written to real files, the sandbox's own books."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from tasks.sandbox import SandboxServer
from tests.helpers import make_catalog, write_config

# Each provider's sandbox prefix, its edit in the config, and the env var its key is read from (the
# default, sandbox-key, is the sandbox's; a test sets the variable to send a wrong one).
EDITS: dict[str, dict[str, Any]] = {
    "picsart.edit": {"name": "picsart", "provider": "picsart.edit", "params": {"format": "PNG"}},
    "fashn.edit": {"name": "fashn", "provider": "fashn.edit", "params": {"resolution": "1k", "output_format": "png"}},
    "pixapi.edits": {
        "name": "pixapi",
        "provider": "pixapi.edits",
        "model": "gemini-2.5-flash-image",
        "params": {"response_format": "b64_json"},
    },
}
PREFIX = {"picsart.edit": "picsart/v1", "fashn.edit": "fashn", "pixapi.edits": "pixapi"}
AREA = {"picsart.edit": "picsart", "fashn.edit": "fashn", "pixapi.edits": "pixapi"}


def key_variable(provider: str) -> str:
    """The env var a test config reads `provider`'s key from."""
    return "RETOUCH_TEST_" + provider.split(".")[0].upper() + "_KEY"


def sandbox_config(
    directory: Path,
    base_url: str,
    providers: list[str],
    *,
    rows: int = 8,
    out: Path | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
    allow: list[str] | None = None,
    **sections: Any,
) -> Path:
    """A config editing `rows` catalog rows with each of `providers` (async mode) on the sandbox.

    Args:
        allow: URL prefixes the source policy allows besides the catalog's folder; output URLs on those
            hosts are fetched too (a provider's own base_url is allowed already).
    """
    catalog = directory / "catalog" / "catalog.parquet"
    if not catalog.exists():
        make_catalog(directory / "catalog", rows=rows)
    provider_settings = {
        name: {
            "base_url": f"{base_url}/{PREFIX[name]}",
            "api_key": "${" + key_variable(name) + ":-sandbox-key}",
            "mode": "async" if name != "fashn.edit" else None,
            "poll_interval": 0.05,
            "retry": {"attempts": 3, "base": 0.01, "cap": 0.05, "jitter": 0},
            "rate_limit": {"requests": 200, "period": 1, "max_in_flight": 6 if name == "fashn.edit" else None},
            **(settings or {}).get(name, {}),
        }
        for name in providers
    }
    config = {
        "catalog": {
            "uri": str(catalog),
            "columns": {"id": "sku", "image": "src", "prompt": "instruction"},
            "sources": {"allow": allow or []},  # e.g. the sandbox's CDN when requests go through a proxy
        },
        "edits": [EDITS[name] for name in providers],
        "providers": {name: {k: v for k, v in s.items() if v is not None} for name, s in provider_settings.items()},
        "output": {"uri": str(out or directory / "out")},
        "execution": {"checkpoint_seconds": 0.05, "concurrency": 8},
        **sections,
    }
    return write_config(directory, config)


def reset(sandbox: SandboxServer) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()


def stats(sandbox: SandboxServer, provider: str) -> dict[str, Any]:
    """The sandbox's request counters for one provider (requests, statuses)."""
    snapshot = httpx.get(f"{sandbox.base_url}/_sandbox/stats").json()
    return dict(snapshot.get(AREA[provider], {"requests": 0, "statuses": {}}))


def billed(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """The sandbox's billing ledger: one entry per billed job."""
    return list(httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"])


def results(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "results" / "*.parquet")


class Gate:
    """A forwarding proxy on 127.0.0.1 that holds every submit (POST) until `open()`: it keeps a run busy,
    holding its lease, for as long as a test needs, without guessing how long a process takes to start.
    Reads (the balance check before a run takes its lease, polls) pass at once."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.opened = threading.Event()
        self.arrived = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def open(self) -> None:
        self.opened.set()

    def __enter__(self) -> Gate:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.opened.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if self.command == "POST":
                    gate.arrived.set()
                    gate.opened.wait(timeout=600)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                reply = httpx.request(self.command, gate.upstream + self.path, headers=headers, content=body)
                self.send_response(reply.status_code)
                for name, value in reply.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
