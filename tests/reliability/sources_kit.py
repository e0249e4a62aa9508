"""Hostile parts for the source-policy tests: loopback servers the tests start, and hostile image files.

`Hostile` serves, on 127.0.0.1 and a free port:
    /secret          an "internal service" answer holding SECRET (every hit is counted)
    /hop/<n>         a redirect to /hop/<n-1>; /hop/0 redirects to the `Location` set in `final_hop`
    /media/image.png a small real PNG
    /media/drip      200, then one byte every half second (never ends in time)
    /media/bomb      gzip body that inflates to BOMB_INFLATED bytes of zeros
    /media/huge      declares a 10 GB Content-Length
    /media/brotli    a body marked Content-Encoding: br
"""

from __future__ import annotations

import gzip
import io
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers import make_png

__all__ = ["BOMB_INFLATED", "SECRET", "Hostile", "bomb_png", "hostile_server", "truncated_png"]

SECRET = b"TOP-SECRET-sources-test-7f3a9c"
BOMB_INFLATED = 64 * 1024 * 1024  # 64 MiB of zeros in ~64 KiB of gzip
_GZIP_BOMB = gzip.compress(bytes(BOMB_INFLATED), compresslevel=9)


def bomb_png(width: int = 13000, height: int = 13000) -> bytes:
    """A valid-looking PNG whose header declares `width`×`height` (169 MP) in a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = zlib.compress(b"\x00" + bytes(width * 3), 9)  # one row; the decoder would want all of them
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def truncated_png() -> bytes:
    """A real PNG cut in half: the header reads, the pixels do not."""
    data = make_png(size=(64, 64), seed=3)
    return data[: len(data) // 2]


class Hostile:
    """The running server: its base URL, hit counts by path, and where /hop/0 points."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.port = server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.hits: Counter[str] = Counter()
        self.final_hop = "/secret"


def _handler(state: Hostile) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            state.hits[path] += 1
            if path == "/secret":
                self._reply(200, SECRET, "text/plain")
            elif path == "/media/image.png":
                self._reply(200, make_png(), "image/png")
            elif path.startswith("/hop/"):
                left = int(path.rsplit("/", 1)[1])
                self.send_response(302)
                self.send_header("Location", f"/hop/{left - 1}" if left > 0 else state.final_hop)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/media/drip":
                self._drip()
            elif path == "/media/bomb":
                self._reply(200, _GZIP_BOMB, "image/png", encoding="gzip")
            elif path == "/media/huge":
                self.send_response(200)
                self.send_header("Content-Length", str(10 * 1024**3))
                self.end_headers()
                self.wfile.write(b"\x89PNG")
            elif path == "/media/brotli":
                self._reply(200, b"\x0b\x02\x80not really brotli", "image/png", encoding="br")
            else:
                self._reply(404, b"no", "text/plain")

        def _reply(self, status: int, body: bytes, kind: str, encoding: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.end_headers()
            self.wfile.write(body)

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            try:
                for byte in io.BytesIO(make_png()).read(60):
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)  # the server dripping: the client's deadline is what is tested
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def hostile_server() -> Iterator[Hostile]:
    """Start the hostile server on a free loopback port; stop it afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Hostile(server)
    server.RequestHandlerClass = _handler(state)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
