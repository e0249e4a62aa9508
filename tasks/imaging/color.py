"""Operations that change pixel values but not their places: tone, colour, filters, noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from tasks.imaging.operation import Context, Operation

__all__ = ["PIXEL_OPS", "on_color"]

PixelOp = Callable[[Image.Image, Operation, Context], Image.Image]

# The classic sepia matrix: each row outweighs the next, so every output pixel has R >= G >= B. Applied by
# Pillow's colour-matrix convert (rounded and clipped in C), ten times faster than the same product in numpy.
_SEPIA = (0.393, 0.769, 0.189, 0.0, 0.349, 0.686, 0.168, 0.0, 0.272, 0.534, 0.131, 0.0)
_ENHANCERS = {
    "brightness": ImageEnhance.Brightness,
    "contrast": ImageEnhance.Contrast,
    "saturation": ImageEnhance.Color,
    "sharpen": ImageEnhance.Sharpness,
}
_JITTERED = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)


def on_color(image: Image.Image, edit: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``edit`` to the RGB bands of an RGB or RGBA image, keeping the alpha band as it was."""
    if image.mode != "RGBA":
        return edit(image)
    result = edit(image.convert("RGB"))
    result.putalpha(image.getchannel("A"))
    return result


def _to_image(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _grayscale(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    return on_color(image, lambda rgb: rgb.convert("L").convert("RGB"))


def _sepia(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    return on_color(image, lambda rgb: rgb.convert("RGB", _SEPIA))


def _invert(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    return on_color(image, ImageOps.invert)


def _blur(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    blur = ImageFilter.GaussianBlur(op.args[0])
    if image.mode == "RGBA":
        # Blur premultiplied colour, or transparent pixels' hidden colour bleeds into the edges.
        return image.convert("RGBa").filter(blur).convert("RGBA")
    return image.filter(blur)


def _enhance(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    enhancer = _ENHANCERS[op.name]
    return on_color(image, lambda rgb: enhancer(rgb).enhance(op.args[0]))


def _posterize(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    return on_color(image, lambda rgb: ImageOps.posterize(rgb, op.args[0]))


def _noise(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    def add_noise(rgb: Image.Image) -> Image.Image:
        values = np.asarray(rgb, dtype=np.float64)
        return _to_image(values + ctx.np_rng.normal(0.0, op.args[0], values.shape))

    return on_color(image, add_noise)


def _jitter(image: Image.Image, op: Operation, ctx: Context) -> Image.Image:
    amount = op.args[0]
    factors = [ctx.rng.uniform(1 - amount, 1 + amount) for _ in range(3)]
    # A hue turn of up to a quarter of the wheel at amount 1, drawn like the factors.
    hue_shift = round(ctx.rng.uniform(-amount, amount) * 64)

    def jitter(rgb: Image.Image) -> Image.Image:
        for enhancer, factor in zip(_JITTERED, factors, strict=True):
            rgb = enhancer(rgb).enhance(factor)
        if hue_shift == 0:
            return rgb
        hue, saturation, value = rgb.convert("HSV").split()
        hue = hue.point([(level + hue_shift) % 256 for level in range(256)])
        return Image.merge("HSV", (hue, saturation, value)).convert("RGB")

    return on_color(image, jitter)


PIXEL_OPS: dict[str, PixelOp] = {
    "grayscale": _grayscale,
    "sepia": _sepia,
    "invert": _invert,
    "blur": _blur,
    "sharpen": _enhance,
    "brightness": _enhance,
    "contrast": _enhance,
    "saturation": _enhance,
    "posterize": _posterize,
    "noise": _noise,
    "jitter": _jitter,
}
