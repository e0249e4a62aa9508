"""The built-in scores of one output against its source: preservation, change, technical checks, a perceptual hash.

All work on a common size (the source's, its long side capped at `COMMON_SIDE`), so a provider that returns
another resolution is compared like for like and a 4K output costs what a 512 px one does. What the scores
need of a source is computed once, in its `Reference`, for every output, seed and retry of its jobs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from tasks.quality.pixels import COMMON_SIDE, Pixels, common_size, decode, decoded, mask_at, resized
from tasks.quality.similarity import (
    Luma,
    Mask8,
    SourceTerms,
    cv_mask,
    grey,
    luma,
    moments,
    source_terms,
    ssim_index,
)

__all__ = [
    "COMMON_SIDE",
    "Reference",
    "Sample",
    "SourceTerms",
    "aspect_error",
    "builtin_scores",
    "changed",
    "clipped",
    "common_size",
    "decode",
    "dhash",
    "hash_distance",
    "is_blank",
    "make_sample",
    "reference",
    "reference_from_pixels",
    "sample_from_pixels",
    "sharpness",
    "source_terms",
    "ssim",
]

# A luminance spread under 2 levels of 255 reads as one flat colour to a person.
_BLANK_STD = 2.0
_RGB_WHITE = 3 * 255.0  # the largest absolute difference of one pixel's three bands summed


@dataclass(frozen=True)
class Reference:
    """A job's source (and mask) decoded once at the common size: shared by its outputs and its retries.

    `terms` (what their scores need of the source) is computed from `pixels` and `mask` on construction.
    """

    pixels: Pixels
    mask: NDArray[np.bool_] | None
    size: tuple[int, int]
    terms: SourceTerms = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", source_terms(self.pixels, self.mask))  # frozen: set once, here


@dataclass(frozen=True)
class Sample:
    """What a scorer sees of one output: arrays at the common size (scorers wanting more decode the bytes again).

    Attributes:
        output: RGB uint8, the common size.
        output_size: the output's own (width, height).
        source: RGB uint8 at the common size; None when the source bytes were not loaded (an http source
            passed on as a URL, or a job resumed by polling).
        mask: True where the edit was asked for, at the common size; None without a mask.
        asked: the (width, height) the request asked for, or the source's size; None if unknown.
        prompt: the job's prompt.
        reference: the source's `Reference` when the sample was made from one (its `pixels` and `mask`
            are `source` and `mask`); the built-in scores then reuse its `terms`.
    """

    output: Pixels
    output_size: tuple[int, int]
    source: Pixels | None
    mask: NDArray[np.bool_] | None
    asked: tuple[int, int] | None
    prompt: str
    reference: Reference | None = field(default=None, repr=False, compare=False)


def reference(source: bytes, mask: bytes | None) -> Reference:
    """Decode a source image (and its mask) at the common size."""
    pixels, size = decoded(source, COMMON_SIDE)
    common = common_size(*size)
    mask_pixels = None
    if mask is not None:
        with Image.open(io.BytesIO(mask)) as image:
            mask_pixels = mask_at(np.asarray(image.convert("L"), dtype=np.uint8), common)
    return Reference(pixels=resized(pixels, common), mask=mask_pixels, size=size)


def reference_from_pixels(source: Pixels, mask: NDArray[np.uint8] | None) -> Reference:
    """`reference` of pixels already decoded (the local engine's own): RGB uint8, and a greyscale mask."""
    size = (source.shape[1], source.shape[0])
    common = common_size(*size)
    mask_pixels = None if mask is None else mask_at(mask, common)
    return Reference(pixels=resized(source, common), mask=mask_pixels, size=size)


def make_sample(output: bytes, source: Reference | None, asked: tuple[int, int] | None, prompt: str) -> Sample:
    """Decode one output and resize it to its source's common size (its own without a source)."""
    pixels, size = decoded(output, COMMON_SIDE)
    return sample_from_pixels(pixels, source, asked, prompt, size=size)


def sample_from_pixels(
    pixels: Pixels,
    source: Reference | None,
    asked: tuple[int, int] | None,
    prompt: str,
    *,
    size: tuple[int, int] | None = None,
) -> Sample:
    """`make_sample` of an output already decoded (RGB uint8); `size` is the output's own when `pixels` is reduced."""
    size = size or (pixels.shape[1], pixels.shape[0])
    if source is None:
        return Sample(resized(pixels, common_size(*size)), size, None, None, asked, prompt)
    common = (source.pixels.shape[1], source.pixels.shape[0])
    return Sample(resized(pixels, common), size, source.pixels, source.mask, asked or source.size, prompt, source)


def builtin_scores(sample: Sample) -> dict[str, float | bool | str | None]:
    """Every built-in score of `sample` (README "Quality" defines each); `duplicate_distance` is set by the gate."""
    levels = grey(sample.output)  # once: every luminance score shares it
    plane = levels.astype(np.float32)
    terms, source = _terms(sample), sample.source
    return {
        "ssim_outside_mask": None if terms is None else _mean(ssim_index(terms, plane), terms.outside),
        "changed": None if source is None or terms is None else _changed(source, sample.output, terms.inside),
        "blank": _spread(levels) < _BLANK_STD,
        "clipped": _clipped(levels),
        "sharpness": _sharpness(levels),
        "aspect_error": None if sample.asked is None else _aspect_error(sample.output_size, sample.asked),
        "dhash": _dhash(plane),
    }


def ssim(a: Pixels, b: Pixels, where: NDArray[np.bool_] | None = None) -> float | None:
    """Mean structural similarity of two same-size images' luminance, over `where` (all pixels when None).

    Outside a mask, `where` leaves out the pixels whose 7 px window reaches the mask (`builtin_scores`).

    Returns:
        SSIM in [-1, 1]; None when `where` selects no pixel (the mask covers the whole image).
    """
    weights = None if where is None else np.asarray(where, dtype=np.float32)
    return _mean(ssim_index(moments(luma(a), None, None), luma(b)), weights)


def changed(a: Pixels, b: Pixels, where: NDArray[np.bool_] | None = None) -> float | None:
    """Mean absolute difference of two same-size RGB images, in [0, 1], over `where` (everywhere when None)."""
    return _changed(a, b, cv_mask(where))


def is_blank(image: Pixels) -> bool:
    """Near-blank: the luminance hardly varies (one flat colour, white, black)."""
    return _spread(grey(image)) < _BLANK_STD


def clipped(image: Pixels) -> float:
    """The share of pixels whose luminance is pure black (0) or pure white (255): clipped exposure."""
    return _clipped(grey(image))


def sharpness(image: Pixels) -> float:
    """Variance of the 4-neighbour Laplacian of the luminance (0..255): low means blurred or flat."""
    return _sharpness(grey(image))


def aspect_error(image: Pixels, asked: tuple[int, int]) -> float:
    """How far the output's aspect ratio is from the asked one, relative: |ratio / asked ratio - 1|."""
    height, width = image.shape[:2]
    return _aspect_error((width, height), asked)


def dhash(image: Pixels) -> str:
    """A 64-bit difference hash (16 hex digits): each bit says whether a pixel is brighter than its left neighbour."""
    return _dhash(luma(image))


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two `dhash` values: 0 for the same picture, about 32 for unrelated ones."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _terms(sample: Sample) -> SourceTerms | None:
    """The sample's source terms: its reference's when it has one for these very arrays, else computed now."""
    known = sample.reference
    if known is not None and known.pixels is sample.source and known.mask is sample.mask:
        return known.terms
    return None if sample.source is None else source_terms(sample.source, sample.mask)


def _mean(values: Luma, where: Luma | None) -> float | None:
    """The mean of `values` over `where` (1.0 selects, 0.0 not; all when None); None when it selects nothing.

    A product and a sum in doubles: OpenCV's masked mean branches per pixel, several times slower on a ragged mask.
    """
    if where is None:
        return float(cv2.sumElems(values)[0] / values.size)
    count = cv2.countNonZero(where)
    return float(cv2.sumElems(cv2.multiply(values, where))[0] / count) if count else None


def _changed(a: Pixels, b: Pixels, where: Mask8 | None) -> float | None:
    # The L1 norm of the difference over the selected pixels: one pass, summed exactly in integers.
    count = a.shape[0] * a.shape[1] if where is None else cv2.countNonZero(where)
    return float(cv2.norm(a, b, cv2.NORM_L1, mask=where) / (count * _RGB_WHITE)) if count else None


def _spread(levels: Pixels) -> float:
    return float(cv2.meanStdDev(levels)[1][0, 0])


def _clipped(levels: Pixels) -> float:
    return float((levels.size - cv2.countNonZero(cv2.inRange(levels, 1, 254))) / levels.size)


def _sharpness(levels: Pixels) -> float:
    # 16-bit integers hold the Laplacian of 0..255 exactly (-1020..1020), and OpenCV sums them and their
    # squares exactly (meanStdDev, by contrast, has no fast path for them).
    laplacian = cv2.Laplacian(levels, cv2.CV_16S, ksize=1)
    mean = cv2.sumElems(laplacian)[0] / levels.size
    return float(cv2.norm(laplacian, cv2.NORM_L2SQR) / levels.size - mean * mean)


def _aspect_error(size: tuple[int, int], asked: tuple[int, int]) -> float:
    return float(abs((size[0] / size[1]) / (asked[0] / asked[1]) - 1.0))


def _dhash(plane: Luma) -> str:
    small = cv2.resize(plane, (9, 8), interpolation=cv2.INTER_AREA)
    return np.packbits(small[:, 1:] > small[:, :-1]).tobytes().hex()  # row by row, first bit highest
