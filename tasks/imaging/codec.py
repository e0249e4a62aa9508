"""Decode image bytes into a working RGB/RGBA image, and encode the result as PNG, JPEG or WebP."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from tasks.core.errors import InstructionError, SourceError
from tasks.core.formats import PILLOW_NAMES, ImageFormat, format_from_pillow, parse_format
from tasks.imaging.probe import DECODE_ERRORS, describe_bytes

__all__ = ["EditedImage", "check_quality", "decode", "encode", "normalize", "resolve_format"]


@dataclass(frozen=True)
class EditedImage:
    """An encoded edit result.

    Attributes:
        data: the encoded image.
        format: ``png``, ``jpeg`` or ``webp``.
        width: width in pixels.
        height: height in pixels.
    """

    data: bytes
    format: ImageFormat
    width: int
    height: int


def decode(data: bytes, what: str = "source image") -> tuple[Image.Image, ImageFormat | None]:
    """Decode bytes, turned upright by their EXIF orientation.

    Args:
        data: encoded image bytes.
        what: how to name the bytes in errors ("source image", "mask").

    Returns:
        The loaded image (mode unchanged) and its format (``png``/``jpeg``/``webp``, None if other).

    Raises:
        SourceError: the bytes are not an image Pillow can decode.
    """
    if not data:
        raise SourceError(f"the {what} is empty (0 bytes)", field=what)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            source_format = format_from_pillow(opened.format)
            image = ImageOps.exif_transpose(opened)
    except DECODE_ERRORS as error:
        raise SourceError(
            # Never the bytes, nor Pillow's message (some quote the file): what they look like and the error's type.
            f"the {what} could not be decoded ({describe_bytes(data)}; {type(error).__name__})",
            field=what,
        ) from error
    return image, source_format


def normalize(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, or to RGBA when the image has transparency.

    Raises:
        SourceError: Pillow cannot convert the image's mode (LAB, for one) to RGB.
    """
    if image.mode == "RGBA" or (image.mode == "RGB" and not image.has_transparency_data):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _to_8bit(image).convert("RGB")
    try:
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    except ValueError as error:
        raise SourceError(f"images of mode {image.mode} are not supported: {error}", field="source image") from error


def _to_8bit(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    # 16-bit sources (I;16, or I holding 0..65535) scale down; float or 8-bit-range ones clip.
    if image.mode.startswith("I") and values.max(initial=0) > 255:
        values = values / 257
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def resolve_format(requested: str | None, source_format: ImageFormat | None) -> ImageFormat:
    """Our name for the output format: the requested one, else the source's, else ``png``.

    Raises:
        InstructionError: ``requested`` is not png, jpeg/jpg or webp (any case).
    """
    if requested is None:
        return source_format or "png"
    name = parse_format(requested)
    if name is None:
        raise InstructionError(
            f"output_format must be one of png, jpeg (or jpg), webp; got {requested!r}",
            field="output_format",
        )
    return name


def check_quality(quality: int) -> None:
    """Raise InstructionError unless ``quality`` is a whole number from 1 to 100."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InstructionError(f"quality must be a whole number from 1 to 100, got {quality!r}", field="quality")


def encode(image: Image.Image, format: ImageFormat, quality: int = 90) -> EditedImage:
    """Encode an RGB/RGBA image; JPEG has no alpha, so transparent pixels go onto white.

    Args:
        image: the image to encode.
        format: ``png``, ``jpeg`` or ``webp``.
        quality: 1..100 for JPEG and WebP; PNG is lossless and ignores it.

    Returns:
        The encoded image with its format and size.

    Raises:
        InstructionError: ``quality`` is outside 1..100.
    """
    check_quality(quality)
    if format == "jpeg" and image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    buffer = io.BytesIO()
    options = {} if format == "png" else {"quality": quality}
    image.save(buffer, format=PILLOW_NAMES[format], **options)
    return EditedImage(data=buffer.getvalue(), format=format, width=image.width, height=image.height)
