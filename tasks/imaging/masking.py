"""Limit an edit to the mask, and fill the masked area from its surroundings (OpenCV inpainting)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

__all__ = ["blend", "inpaint"]


def blend(edited: Image.Image, original: Image.Image, mask: Image.Image, region: str) -> Image.Image:
    """Keep ``edited`` inside the mask (region ``inside``) or outside it (``outside``).

    Args:
        edited: the whole image after the step.
        original: the whole image before the step, same size.
        mask: mode ``L``, white = inside; grey levels blend, so soft mask edges stay soft.
        region: ``inside`` or ``outside``.

    Returns:
        The blended image, in the mode of ``edited``.
    """
    if original.mode != edited.mode:
        original = original.convert(edited.mode)
    if region == "inside":
        return Image.composite(edited, original, mask)
    return Image.composite(original, edited, mask)


def inpaint(image: Image.Image, mask: Image.Image, radius: float) -> Image.Image:
    """Fill the masked pixels (mask > 127) from their surroundings with OpenCV's Telea method.

    Args:
        image: RGB or RGBA image.
        mask: mode ``L``, same size, white = the area to fill.
        radius: how far around each pixel the method looks, in pixels.

    Returns:
        The filled image; alpha is filled the same way.
    """
    holes = np.where(np.asarray(mask) > 127, 255, 0).astype(np.uint8)
    if not holes.any():
        return image.copy()
    filled = Image.fromarray(_telea(np.array(image.convert("RGB")), holes, radius))
    if image.mode == "RGBA":
        filled.putalpha(Image.fromarray(_telea(np.array(image.getchannel("A")), holes, radius)))
    return filled


def _telea(values: np.ndarray, holes: np.ndarray, radius: float) -> np.ndarray:
    result: np.ndarray = cv2.inpaint(values, holes, radius, cv2.INPAINT_TELEA)
    return result
