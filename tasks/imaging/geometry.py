"""Operations that move pixels: rotate, flip, crop, resize and pad, planned once for image and mask."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PIL import Image

from tasks.imaging.operation import MAX_PIXELS, MAX_SIDE, Context, Operation, step_error
from tasks.imaging.padding import pad, pad_mask

__all__ = ["Warp", "plan_warp"]

#: A planned geometric edit: (image, is_mask) -> moved image. The image and its mask go through the
#: same plan, so a random crop cuts both at the same place.
Warp = Callable[[Image.Image, bool], Image.Image]
Box = tuple[int, int, int, int]

_TRANSPOSES = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def plan_warp(op: Operation, size: tuple[int, int], ctx: Context) -> Warp:
    """Turn a geometric operation into a concrete edit for an image of ``size``.

    Args:
        op: a geometric operation (``rotate``, ``flip``, ``mirror``, ``crop``, ``random_crop``,
            ``resize``, ``fit``, ``scale`` or ``pad``).
        size: the (width, height) of the image at this step.
        ctx: this call's randomness (random crop draws its position here).

    Returns:
        The edit, to apply to the image and (with ``is_mask=True``) to the mask.

    Raises:
        InstructionError: the step does not fit this image (a crop larger than it, an output too big).
    """
    return _PLANNERS[op.name](op, size, ctx)


def _rotate(op: Operation, size: tuple[int, int], ctx: Context) -> Warp:
    degrees = op.args[0]
    if degrees % 90 == 0:
        transpose = _TRANSPOSES.get(int(degrees))
        return lambda image, is_mask: image.transpose(transpose) if transpose else image.copy()
    radians = math.radians(degrees)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    _check_size(op, (math.ceil(size[0] * cos + size[1] * sin), math.ceil(size[0] * sin + size[1] * cos)))
    return lambda image, is_mask: _rotate_free(image, degrees, is_mask)


def _rotate_free(image: Image.Image, degrees: float, is_mask: bool) -> Image.Image:
    if is_mask:
        return image.rotate(degrees, Image.Resampling.BILINEAR, expand=True, fillcolor=0)
    if image.mode == "RGBA":
        # Premultiplied, so the transparent corners do not darken the edges they are blended into.
        turned = image.convert("RGBa").rotate(degrees, Image.Resampling.BICUBIC, expand=True)
        return turned.convert("RGBA")
    return image.rotate(degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))


def _flip(op: Operation, size: tuple[int, int], ctx: Context) -> Warp:
    method = Image.Transpose.FLIP_TOP_BOTTOM if op.name == "flip" else Image.Transpose.FLIP_LEFT_RIGHT
    return lambda image, is_mask: image.transpose(method)


def _crop(op: Operation, size: tuple[int, int], ctx: Context) -> Warp:
    box = _crop_box(op, size, ctx)
    return lambda image, is_mask: image.crop(box)


def _crop_box(op: Operation, size: tuple[int, int], ctx: Context) -> Box:
    width, height = size
    kind, *values = op.args
    if kind == "box":
        left, top, right, bottom = values
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            raise step_error(
                op,
                f"the box must satisfy 0 <= left < right <= {width} and "
                f"0 <= top < bottom <= {height} (the image is {width}x{height})",
            )
        return left, top, right, bottom
    crop_w, crop_h = _crop_size(op, kind, values, size)
    if op.name == "random_crop":
        left, top = ctx.rng.randint(0, width - crop_w), ctx.rng.randint(0, height - crop_h)
    else:
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def _crop_size(op: Operation, kind: str, values: list[Any], size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if kind == "percent":
        return max(1, round(width * values[0] / 100)), max(1, round(height * values[0] / 100))
    crop_w, crop_h = values
    if crop_w > width or crop_h > height:
        raise step_error(
            op,
            f"the crop size must be from 1x1 to {width}x{height} (the image size at this step), got {crop_w}x{crop_h}",
        )
    return crop_w, crop_h


def _resize(op: Operation, size: tuple[int, int], ctx: Context) -> Warp:
    width, height = size
    if op.name == "resize":
        new_size = (op.args[0], op.args[1])
    else:
        factor = op.args[0] if op.name == "scale" else min(op.args[0] / width, op.args[1] / height)
        new_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    _check_size(op, new_size)
    return lambda image, is_mask: image.resize(
        new_size, Image.Resampling.BILINEAR if is_mask else Image.Resampling.LANCZOS
    )


def _pad(op: Operation, size: tuple[int, int], ctx: Context) -> Warp:
    border = _pad_border(op, size)
    _check_size(op, (size[0] + border[0] + border[2], size[1] + border[1] + border[3]))
    fill = op.args[3]
    return lambda image, is_mask: pad_mask(image, border) if is_mask else pad(image, border, fill)


def _pad_border(op: Operation, size: tuple[int, int]) -> Box:
    """(left, top, right, bottom) padding in pixels."""
    unit, amount, sides, _ = op.args
    width, height = size
    if unit != "to":
        x = amount if unit == "px" else round(width * amount / 100)
        y = amount if unit == "px" else round(height * amount / 100)
        return (
            x if "left" in sides else 0,
            y if "top" in sides else 0,
            x if "right" in sides else 0,
            y if "bottom" in sides else 0,
        )
    target_w, target_h = amount
    if target_w < width or target_h < height:
        raise step_error(
            op, f"the target size must be at least the image size {width}x{height}, got {target_w}x{target_h}"
        )
    left, right = _split(target_w - width, "left" in sides, "right" in sides)
    top, bottom = _split(target_h - height, "top" in sides, "bottom" in sides)
    return left, top, right, bottom


def _split(extra: int, first: bool, second: bool) -> tuple[int, int]:
    """Share ``extra`` pixels between two opposite sides: all to a lone chosen side, else half each."""
    if first != second:
        return (extra, 0) if first else (0, extra)
    return extra // 2, extra - extra // 2


def _check_size(op: Operation, size: tuple[int, int]) -> None:
    if max(size) > MAX_SIDE or size[0] * size[1] > MAX_PIXELS:
        raise step_error(
            op,
            f"the result would be {size[0]}x{size[1]}; each side must be at most "
            f"{MAX_SIDE} and the area at most {MAX_PIXELS // 2**20} megapixels",
        )


_PLANNERS: dict[str, Callable[[Operation, tuple[int, int], Context], Warp]] = {
    "rotate": _rotate,
    "flip": _flip,
    "mirror": _flip,
    "crop": _crop,
    "random_crop": _crop,
    "resize": _resize,
    "fit": _resize,
    "scale": _resize,
    "pad": _pad,
}
