"""Content-Encoding decoding with a hard cap on the output, so a compressed bomb never inflates in memory."""

from __future__ import annotations

import zlib

__all__ = ["ACCEPT_ENCODING", "BoundedInflater", "UnsupportedEncoding"]

# What a guarded fetch asks for: the two encodings the stdlib decodes with a bounded output.
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(ValueError):
    """The body uses a content encoding this module does not decode (br, zstd, stacked encodings)."""


class BoundedInflater:
    """Decodes one body chunk by chunk; never produces more than `room + 1` bytes from one call.

    httpx's own decoders inflate a whole chunk at once (a 64 KiB gzip chunk can become 64 MiB), so the
    cap has to sit inside the decoder: `zlib`'s `max_length` stops it at the byte past the cap.

    Args:
        encoding: the Content-Encoding header ("" or "identity" for none).

    Raises:
        UnsupportedEncoding: an encoding other than identity, gzip or deflate.
    """

    def __init__(self, encoding: str) -> None:
        name = encoding.strip().lower()
        if name in ("", "identity"):
            self._zlib = None
        elif name in _WBITS:
            self._zlib = zlib.decompressobj(_WBITS[name])
        else:
            raise UnsupportedEncoding(f"content-encoding {name[:40]!r} is not decoded (only gzip and deflate)")

    def feed(self, chunk: bytes, room: int) -> bytes:
        """The decoded bytes of `chunk`: at most `room + 1`, so one past the cap shows it was passed.

        Raises:
            zlib.error: the body does not inflate.
        """
        if self._zlib is None:
            return chunk[: room + 1]
        return self._zlib.decompress(chunk, room + 1)

    def finish(self, room: int) -> bytes:
        """Whatever the decoder still holds, at most `room + 1` bytes."""
        if self._zlib is None:
            return b""
        return self._zlib.flush(room + 1)
