"""Small WebP thumbnails of checked images, to embed in a report page as data URIs."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from tasks.core.errors import SourceError
from tasks.imaging.codec import normalize
from tasks.imaging.probe import DECODE_ERRORS, check_image

__all__ = ["THUMB_SIDE", "Thumb", "make_thumbnail"]

THUMB_SIDE = 192  # pixels of a thumbnail's longer side: sharp at the page's 160 CSS px, ~5-15 KB as WebP
_QUALITY = 72


@dataclass(frozen=True)
class Thumb:
    """An encoded thumbnail and its size."""

    data: bytes = field(repr=False)
    width: int
    height: int
    media_type: str = "image/webp"

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def image(self) -> Image.Image:
        """The thumbnail decoded again (for the contact sheet)."""
        with Image.open(io.BytesIO(self.data)) as opened:
            opened.load()
            return opened.copy()


def make_thumbnail(data: bytes, *, max_pixels: int, side: int = THUMB_SIDE) -> Thumb:
    """A thumbnail of at most `side` × `side` pixels, aspect kept.

    The header is checked against `max_pixels` before anything is decoded; JPEGs are decoded at a
    reduced scale (Pillow's draft mode), so one thumbnail holds little more than its source's bytes.

    Raises:
        SourceRefused: the image declares more than `max_pixels`.
        SourceError: the bytes are not a whole image.
    """
    check_image(data, max_pixels, decode=False)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (side, side))  # JPEG only: decode at 1/2…1/8 scale; a no-op for other formats
            upright = ImageOps.exif_transpose(opened)
            upright.thumbnail((side, side))
            small = normalize(upright)
    except DECODE_ERRORS as error:  # what Pillow raises for bytes that pass the header check but do not decode
        raise SourceError(f"does not decode ({type(error).__name__})") from None
    buffer = io.BytesIO()
    small.save(buffer, format="WEBP", quality=_QUALITY)
    return Thumb(buffer.getvalue(), small.width, small.height)
