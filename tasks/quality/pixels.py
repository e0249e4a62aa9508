"""Image bytes to RGB arrays at the scores' common size: decoding (DCT-reduced for a large JPEG) and resizing."""

from __future__ import annotations

import io

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["COMMON_SIDE", "Pixels", "common_size", "decode", "decoded", "mask_at", "resized"]

# 128 px: SSIM's 7 px window then spans ~5% of the picture, enough for what must stay (a product, the
# background) while halving the cost of 256 px; decoding dominates what is left (bench/quality.py).
COMMON_SIDE = 128
_JPEG = b"\xff\xd8\xff"
# libjpeg's DCT scaling, largest first: (factor, OpenCV's flag for a colour image reduced by it).
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))

# The EXIF orientation tag, and its values that turn the picture a quarter (width and height swap).
_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})

Pixels = NDArray[np.uint8]


def decode(data: bytes, at_least: int = 0) -> Pixels:
    """Image bytes as an RGB uint8 array, upright by its EXIF orientation.

    Args:
        data: the encoded image.
        at_least: a JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, several times
            faster) while its long side stays at least this; 0 decodes at full size.
    """
    return decoded(data, at_least)[0]


def decoded(data: bytes, at_least: int) -> tuple[Pixels, tuple[int, int]]:
    """The pixels (reduced for a large JPEG, see `decode`) and the image's own (width, height).

    Only a JPEG to reduce has its header read first (for its size); any other image is decoded once.
    """
    flag, size = cv2.IMREAD_COLOR, None
    if at_least and data.startswith(_JPEG):
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as probe:
            size = probe.size  # as stored: a reduced decode's shape cannot give it back exactly
            if probe.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS:
                size = (size[1], size[0])  # OpenCV decodes it upright: the size must say so too
        flag = next((reduced for factor, reduced in _REDUCED if max(size) // factor >= at_least), flag)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if pixels is None:  # a format OpenCV lacks (GIF, some TIFFs): Pillow reads it
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8), size or image.size
    rgb = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    return rgb, size or (rgb.shape[1], rgb.shape[0])


def common_size(width: int, height: int) -> tuple[int, int]:
    """The size an image of (width, height) is scored at: its own, its long side capped at `COMMON_SIDE`."""
    scale = min(1.0, COMMON_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def resized(image: Pixels, size: tuple[int, int]) -> Pixels:
    """`image` at `size` (width, height) by area averaging; `image` itself when it has that size."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def mask_at(grey: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.bool_]:
    """A greyscale mask as booleans at `size` (nearest neighbour: a mask stays sharp), True from 128 up."""
    if (grey.shape[1], grey.shape[0]) != size:
        grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_NEAREST), dtype=np.uint8)
    return np.asarray(grey >= 128)
