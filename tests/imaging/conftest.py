"""Fixtures for tests/imaging: small real images built with numpy, and an encoder for them."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

WIDTH, HEIGHT = 64, 48


@pytest.fixture
def photo() -> Image.Image:
    """A 64x48 RGB image: gradients in every channel plus seeded texture, so patches are distinguishable."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    texture = np.random.default_rng(7).integers(0, 40, (HEIGHT, WIDTH))
    red = 30 + x * 3
    green = 20 + y * 4 + texture
    blue = 200 - x - y + texture // 2
    return Image.fromarray(np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8))


@pytest.fixture
def marked(photo: Image.Image) -> Image.Image:
    """The photo with a pure red top-left pixel, to follow where pixels move."""
    image = photo.copy()
    image.putpixel((0, 0), (255, 0, 0))
    return image


@pytest.fixture
def box_mask() -> Image.Image:
    """A mask (mode L) that is white on the box (16, 12)-(40, 30) and black elsewhere."""
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    mask.paste(255, (16, 12, 40, 30))
    return mask


@pytest.fixture
def to_bytes() -> Callable[..., bytes]:
    """Encode an image: ``to_bytes(image, "PNG")``."""

    def encode(image: Image.Image, format: str = "PNG", **options: object) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=format, **options)
        return buffer.getvalue()

    return encode
