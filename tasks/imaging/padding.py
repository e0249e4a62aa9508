"""Grow the canvas: a solid colour, repeated edge pixels, a mirror image, or a blurred extension."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["pad", "pad_mask"]

Border = tuple[int, int, int, int]
Fill = tuple[int, int, int, int] | str


def pad(image: Image.Image, border: Border, fill: Fill) -> Image.Image:
    """Pad an RGB/RGBA image.

    Args:
        image: the image to pad.
        border: pixels to add (left, top, right, bottom).
        fill: an RGBA colour (a transparent one turns an RGB image into RGBA), or ``edge``
            (repeat the outermost pixels), ``mirror`` (reflect the image) or ``blur`` (a blurred
            reflection, a cheap stand-in for outpainting).

    Returns:
        The padded image.
    """
    if fill == "blur":
        return _blurred(image, border)
    if isinstance(fill, str):
        return _numpy_pad(image, border, "edge" if fill == "edge" else "symmetric")
    if image.mode == "RGB" and fill[3] < 255:
        image = image.convert("RGBA")
    color = fill if image.mode == "RGBA" else fill[:3]
    return _on_canvas(image, border, color)


def pad_mask(mask: Image.Image, border: Border) -> Image.Image:
    """Pad a mask with black: new canvas is outside the mask."""
    return _on_canvas(mask, border, 0)


def _on_canvas(image: Image.Image, border: Border, color: int | tuple[int, ...]) -> Image.Image:
    left, top, right, bottom = border
    canvas = Image.new(image.mode, (image.width + left + right, image.height + top + bottom), color)
    canvas.paste(image, (left, top))
    return canvas


def _numpy_pad(image: Image.Image, border: Border, mode: Literal["edge", "symmetric"]) -> Image.Image:
    left, top, right, bottom = border
    values = np.asarray(image)
    # numpy repeats the reflection when the padding is wider than the image, so any size works.
    padded = np.pad(values, ((top, bottom), (left, right), (0, 0)), mode=mode)
    return Image.fromarray(padded)


def _blurred(image: Image.Image, border: Border) -> Image.Image:
    padded = _numpy_pad(image, border, "symmetric")
    radius = max(2, max(border) // 3)
    if padded.mode == "RGBA":
        # Premultiplied, so hidden colour under transparent pixels does not bleed into the blur.
        backdrop = padded.convert("RGBa").filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
    else:
        backdrop = padded.filter(ImageFilter.GaussianBlur(radius))
    backdrop.paste(image, (border[0], border[1]))
    return backdrop
