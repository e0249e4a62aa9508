"""Check bytes are an image within a pixel cap: the size from the header first, then one full decode."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from PIL import Image

from tasks.core.errors import SourceError, SourceRefused

__all__ = ["DECODE_ERRORS", "ImageHeader", "check_image", "describe_bytes", "read_header"]

# Pillow reports broken or hostile files through many exception types; all mean "not decodable"
# (UnidentifiedImageError is an OSError). Every decode of untrusted bytes catches exactly these.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    Image.DecompressionBombError,
)
_KINDS = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"\x1f\x8b", "gzip data"),
    (b"PK\x03\x04", "zip archive"),
    (b"%PDF", "PDF"),
    (b"\x7fELF", "ELF binary"),
)


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, before any pixel is decoded."""

    format: str
    width: int
    height: int
    bytes_per_pixel: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """Memory of the decoded image."""
        return self.pixels * self.bytes_per_pixel


def describe_bytes(data: bytes) -> str:
    """What the bytes look like ("PNG", "text", "binary data") and their size: never the bytes themselves."""
    kind = next((name for magic, name in _KINDS if data.startswith(magic)), None)
    if kind is None:
        head = data[:512]
        printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in head)
        kind = "text" if head and printable >= 0.95 * len(head) else "binary data"
    return f"{kind}, {len(data)} bytes"


def read_header(source: bytes | IO[bytes]) -> ImageHeader:
    """The format, size and bands from the header alone (Pillow's open is lazy: no pixel is decoded).

    Raises:
        SourceRefused: the header declares more pixels than Pillow's decompression-bomb limit.
        SourceError: the bytes are not an image Pillow can identify.
    """
    with _opened(source) as image:
        return _header(image)


def check_image(data: bytes, max_pixels: int, *, decode: bool = True) -> ImageHeader:
    """Check `data` is a whole image of at most `max_pixels`, reading the size before decoding anything.

    Args:
        data: the encoded image.
        max_pixels: the cap on width × height.
        decode: decode every pixel (True), or only check the file's structure (Pillow's `verify`, which
            catches a truncated PNG without holding its pixels; the caller decodes later).

    Raises:
        SourceRefused: the header declares more than `max_pixels`.
        SourceError: not an image, or truncated or corrupt (it does not decode to the end).
    """
    with _opened(data) as image:
        header = _header(image)
        if header.pixels > max_pixels:
            raise SourceRefused(
                f"is a {header.format} of {header.width}×{header.height} = {header.pixels} pixels, over "
                f"catalog.sources.max_pixels={max_pixels}; nothing was decoded"
            )
        try:
            if decode:
                image.load()
            else:
                image.verify()
        except DECODE_ERRORS as error:
            raise SourceError(
                f"does not decode: a {header.format} of {header.width}×{header.height} that is truncated or "
                f"corrupt ({describe_bytes(data)}; {type(error).__name__})"
            ) from None
    return header


@contextmanager
def _opened(source: bytes | IO[bytes]) -> Iterator[Image.Image]:
    """The image, opened lazily, with Pillow's failures to open turned into our errors."""
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # Pillow's own check, past the highest max_pixels allowed (a warning that warning filters may
        # raise, or an error): the header declares too many pixels either way.
        raise SourceRefused(
            f"declares more than {Image.MAX_IMAGE_PIXELS} pixels (Pillow's decompression-bomb limit), over "
            "catalog.sources.max_pixels; nothing was decoded"
        ) from None
    except DECODE_ERRORS as error:
        what = describe_bytes(source) if isinstance(source, bytes) else "the file"
        raise SourceError(f"is not an image ({what}; {type(error).__name__})") from None
    with image:
        yield image


def _header(image: Image.Image) -> ImageHeader:
    width, height = image.size
    return ImageHeader(image.format or "unknown", width, height, _bytes_per_pixel(image.mode))


def _bytes_per_pixel(mode: str) -> int:
    """Bytes of one decoded pixel in `mode` (32-bit integer and float modes take four)."""
    if mode in ("I", "F", "I;32", "RGBX", "RGBA", "CMYK", "RGBa"):
        return 4
    if mode.startswith("I;16"):
        return 2
    return Image.getmodebands(mode) if mode in Image.MODES else 4
