"""The bad-output faults: blank, unchanged and off-mask images, as the sandbox returns them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tasks.imaging import edit_image_bytes
from tasks.sandbox.editing import EditSpec
from tasks.sandbox.faults import Fault
from tasks.sandbox.spoil import spoil


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


SOURCE = np.tile(np.arange(0, 160, 10, dtype=np.uint8), (16, 1))[..., None].repeat(3, 2)
MASK = np.zeros((16, 16), np.uint8)
MASK[:, 8:] = 255


def test_each_bad_output_kind() -> None:
    source = png(SOURCE)
    edited = [edit_image_bytes(source, "brighten 20%")]
    spec = EditSpec(prompt="brighten 20%", seeds=(1,), mask=png(MASK))
    blank = pixels(spoil(Fault.BLANK, edited, source, spec)[0].data)
    assert (blank == 128).all() and blank.shape == SOURCE.shape
    assert (pixels(spoil(Fault.UNCHANGED, edited, source, spec)[0].data) == SOURCE).all()
    off = pixels(spoil(Fault.OFF_MASK, edited, source, spec)[0].data)
    good = pixels(edited[0].data)
    assert (off[:, 8:] == good[:, 8:]).all() and (off[:, :8] == 255 - good[:, :8]).all()
    assert spoil(Fault.HANG, edited, source, spec) == edited  # other faults leave the images alone
