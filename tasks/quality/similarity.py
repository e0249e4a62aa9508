"""SSIM's parts: what a source contributes once (`SourceTerms`) and an output's index map against it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from tasks.quality.pixels import Pixels

__all__ = [
    "Luma",
    "Mask8",
    "SourceTerms",
    "beyond",
    "cv_mask",
    "gauss",
    "grey",
    "luma",
    "moments",
    "source_terms",
    "ssim_index",
]

# Wang et al. (2004): constants for 8-bit images, a Gaussian window of sigma 1.5 (7 px here, as scikit-image's).
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WINDOW = (7, 7)
_SIGMA = 1.5

Luma = NDArray[np.float32]
Mask8 = NDArray[np.uint8]  # OpenCV's mask type: nonzero selects


@dataclass(frozen=True)
class SourceTerms:
    """What the scores of every output need of their source, computed once with its `Reference`.

    Attributes:
        luma: the source's luminance x (float32, whole numbers 0..255).
        mean: μx, its Gaussian-weighted local mean (SSIM's window).
        mean_c1: μx² + C1, the source's part of SSIM's luminance denominator.
        var_c2: σx² + C2, the source's part of SSIM's contrast denominator.
        inside: the mask as an OpenCV mask (`changed` is measured there); None without a mask.
        outside: 1.0 on the pixels whose SSIM window does not reach the mask (preservation is measured
            there), 0.0 elsewhere; None without a mask.
    """

    luma: Luma
    mean: Luma
    mean_c1: Luma
    var_c2: Luma
    inside: Mask8 | None
    outside: Luma | None


def source_terms(pixels: Pixels, mask: NDArray[np.bool_] | None) -> SourceTerms:
    """What every output's scores need of a source at the common size (RGB uint8) and its mask (`Reference`)."""
    outside = None if mask is None else beyond(mask).astype(np.float32)
    return moments(grey(pixels).astype(np.float32), cv_mask(mask), outside)


def moments(x: Luma, inside: Mask8 | None, outside: Luma | None) -> SourceTerms:
    """The source terms of luminance `x`, with the masks given as they are."""
    mean = gauss(x)
    square = mean * mean  # μx², then μx² + C1
    variance = gauss(x * x)  # E[x²], then σx² + C2
    variance -= square
    variance += _C2
    square += _C1
    return SourceTerms(x, mean, square, variance, inside, outside)


def ssim_index(source: SourceTerms, y: Luma) -> Luma:
    """SSIM's map: (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), the source's terms precomputed.

    In place on the blurred planes: the same float32 operations as the formula, without a temporary each.
    """
    my, cross = gauss(y), gauss(source.luma * y)  # cross: E[xy], then 2σxy + C2
    numerator = source.mean * my  # μxμy, then the numerator
    cross -= numerator
    cross *= 2
    cross += _C2
    numerator *= 2
    numerator += _C1
    numerator *= cross
    variance = gauss(y * y)  # E[y²], then σx² + σy² + C2
    my *= my
    variance -= my
    variance += source.var_c2
    my += source.mean_c1  # μx² + μy² + C1, then the denominator
    my *= variance
    numerator /= my
    return numerator


def beyond(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels whose SSIM window does not reach the mask: the asked-for edit must not count against preservation."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones(_WINDOW, np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(grown == 0)


def cv_mask(where: NDArray[np.bool_] | None) -> Mask8 | None:
    """Booleans as OpenCV's mask type (a view when they already are contiguous booleans)."""
    return None if where is None else np.ascontiguousarray(where, dtype=np.bool_).view(np.uint8)


def grey(image: Pixels) -> Pixels:
    """The luminance of RGB uint8 pixels, uint8 (OpenCV's Rec. 601 weights)."""
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def luma(image: Pixels) -> Luma:
    """The luminance as float32, the type the SSIM planes are computed in."""
    # float32 halves the memory traffic of the five blurs; values stay whole numbers 0..255.
    return grey(image).astype(np.float32)


def gauss(plane: Luma) -> Luma:
    """SSIM's Gaussian window over a plane."""
    return np.asarray(cv2.GaussianBlur(plane, _WINDOW, _SIGMA, borderType=cv2.BORDER_REFLECT), dtype=np.float32)
