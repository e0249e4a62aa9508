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

# Wang et al. (2004): constants for 8-bit images, a Gaussian window of sigma 1.5 (7 px here, as scikit-image's).
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WINDOW = (7, 7)
_SIGMA = 1.5
# A luminance spread under 2 levels of 255 reads as one flat colour to a person.
_BLANK_STD = 2.0
_RGB_WHITE = 3 * 255.0  # the largest absolute difference of one pixel's three bands summed

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
    grey = _grey(sample.output)  # once: every luminance score shares it
    luma = grey.astype(np.float32)
    terms, source = _terms(sample), sample.source
    return {
        "ssim_outside_mask": None if terms is None else _mean(_ssim_index(terms, luma), terms.outside),
        "changed": None if source is None or terms is None else _changed(source, sample.output, terms.inside),
        "blank": _spread(grey) < _BLANK_STD,
        "clipped": _clipped(grey),
        "sharpness": _sharpness(grey),
        "aspect_error": None if sample.asked is None else _aspect_error(sample.output_size, sample.asked),
        "dhash": _dhash(luma),
    }


def source_terms(pixels: Pixels, mask: NDArray[np.bool_] | None) -> SourceTerms:
    """What every output's scores need of a source at the common size (RGB uint8) and its mask (`Reference`)."""
    outside = None if mask is None else _beyond(mask).astype(np.float32)
    return _moments(_grey(pixels).astype(np.float32), _cv_mask(mask), outside)


def ssim(a: Pixels, b: Pixels, where: NDArray[np.bool_] | None = None) -> float | None:
    """Mean structural similarity of two same-size images' luminance, over `where` (all pixels when None).

    Outside a mask, `where` leaves out the pixels whose 7 px window reaches the mask (`builtin_scores`).

    Returns:
        SSIM in [-1, 1]; None when `where` selects no pixel (the mask covers the whole image).
    """
    weights = None if where is None else np.asarray(where, dtype=np.float32)
    return _mean(_ssim_index(_moments(_luma(a), None, None), _luma(b)), weights)


def changed(a: Pixels, b: Pixels, where: NDArray[np.bool_] | None = None) -> float | None:
    """Mean absolute difference of two same-size RGB images, in [0, 1], over `where` (everywhere when None)."""
    return _changed(a, b, _cv_mask(where))


def is_blank(image: Pixels) -> bool:
    """Near-blank: the luminance hardly varies (one flat colour, white, black)."""
    return _spread(_grey(image)) < _BLANK_STD


def clipped(image: Pixels) -> float:
    """The share of pixels whose luminance is pure black (0) or pure white (255): clipped exposure."""
    return _clipped(_grey(image))


def sharpness(image: Pixels) -> float:
    """Variance of the 4-neighbour Laplacian of the luminance (0..255): low means blurred or flat."""
    return _sharpness(_grey(image))


def aspect_error(image: Pixels, asked: tuple[int, int]) -> float:
    """How far the output's aspect ratio is from the asked one, relative: |ratio / asked ratio - 1|."""
    height, width = image.shape[:2]
    return _aspect_error((width, height), asked)


def dhash(image: Pixels) -> str:
    """A 64-bit difference hash (16 hex digits): each bit says whether a pixel is brighter than its left neighbour."""
    return _dhash(_luma(image))


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two `dhash` values: 0 for the same picture, about 32 for unrelated ones."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _terms(sample: Sample) -> SourceTerms | None:
    """The sample's source terms: its reference's when it has one for these very arrays, else computed now."""
    known = sample.reference
    if known is not None and known.pixels is sample.source and known.mask is sample.mask:
        return known.terms
    return None if sample.source is None else source_terms(sample.source, sample.mask)


def _moments(x: Luma, inside: Mask8 | None, outside: Luma | None) -> SourceTerms:
    mean = _gauss(x)
    square = mean * mean  # μx², then μx² + C1
    variance = _gauss(x * x)  # E[x²], then σx² + C2
    variance -= square
    variance += _C2
    square += _C1
    return SourceTerms(x, mean, square, variance, inside, outside)


def _ssim_index(source: SourceTerms, y: Luma) -> Luma:
    """SSIM's map: (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), the source's terms precomputed.

    In place on the blurred planes: the same float32 operations as the formula, without a temporary each.
    """
    my, cross = _gauss(y), _gauss(source.luma * y)  # cross: E[xy], then 2σxy + C2
    numerator = source.mean * my  # μxμy, then the numerator
    cross -= numerator
    cross *= 2
    cross += _C2
    numerator *= 2
    numerator += _C1
    numerator *= cross
    variance = _gauss(y * y)  # E[y²], then σx² + σy² + C2
    my *= my
    variance -= my
    variance += source.var_c2
    my += source.mean_c1  # μx² + μy² + C1, then the denominator
    my *= variance
    numerator /= my
    return numerator


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


def _spread(grey: Pixels) -> float:
    return float(cv2.meanStdDev(grey)[1][0, 0])


def _clipped(grey: Pixels) -> float:
    return float((grey.size - cv2.countNonZero(cv2.inRange(grey, 1, 254))) / grey.size)


def _sharpness(grey: Pixels) -> float:
    # 16-bit integers hold the Laplacian of 0..255 exactly (-1020..1020), and OpenCV sums them and their
    # squares exactly (meanStdDev, by contrast, has no fast path for them).
    laplacian = cv2.Laplacian(grey, cv2.CV_16S, ksize=1)
    mean = cv2.sumElems(laplacian)[0] / grey.size
    return float(cv2.norm(laplacian, cv2.NORM_L2SQR) / grey.size - mean * mean)


def _aspect_error(size: tuple[int, int], asked: tuple[int, int]) -> float:
    return float(abs((size[0] / size[1]) / (asked[0] / asked[1]) - 1.0))


def _dhash(luma: Luma) -> str:
    small = cv2.resize(luma, (9, 8), interpolation=cv2.INTER_AREA)
    return np.packbits(small[:, 1:] > small[:, :-1]).tobytes().hex()  # row by row, first bit highest


def _beyond(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels whose SSIM window does not reach the mask: the asked-for edit must not count against preservation."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones(_WINDOW, np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(grown == 0)


def _cv_mask(where: NDArray[np.bool_] | None) -> Mask8 | None:
    return None if where is None else np.ascontiguousarray(where, dtype=np.bool_).view(np.uint8)


def _grey(image: Pixels) -> Pixels:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def _luma(image: Pixels) -> Luma:
    # float32 halves the memory traffic of the five blurs; values stay whole numbers 0..255.
    return _grey(image).astype(np.float32)


def _gauss(plane: Luma) -> Luma:
    return np.asarray(cv2.GaussianBlur(plane, _WINDOW, _SIGMA, borderType=cv2.BORDER_REFLECT), dtype=np.float32)
