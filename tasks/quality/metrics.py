"""The built-in scores of one output against its source: preservation, change, technical checks, a perceptual hash.

All work on a common size (the source's, its long side capped at `COMMON_SIDE`), so a provider that returns
another resolution is compared like for like and a 4K output costs what a 512 px one does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "COMMON_SIDE",
    "Reference",
    "Sample",
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
    "ssim",
]

# 128 px: SSIM's 7 px window then spans ~5% of the picture, enough for what must stay (a product, the
# background) while halving the cost of 256 px; decoding dominates what is left (bench/quality.py).
COMMON_SIDE = 128
# Wang et al. (2004): constants for 8-bit images, a Gaussian window of sigma 1.5 (7 px here, as scikit-image's).
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WINDOW = (7, 7)
_SIGMA = 1.5
# A luminance spread under 2 levels of 255 reads as one flat colour to a person.
_BLANK_STD = 2.0

Pixels = NDArray[np.uint8]
Luma = NDArray[np.float32]


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
    """

    output: Pixels
    output_size: tuple[int, int]
    source: Pixels | None
    mask: NDArray[np.bool_] | None
    asked: tuple[int, int] | None
    prompt: str


def decode(data: bytes, at_least: int = 0) -> Pixels:
    """Image bytes as an RGB uint8 array, upright by its EXIF orientation.

    Args:
        data: the encoded image.
        at_least: a JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, several times
            faster) while its long side stays at least this; 0 decodes at full size.
    """
    return _decoded(data, at_least)[0]


@dataclass(frozen=True)
class Reference:
    """A job's source (and mask) decoded once at the common size: shared by its outputs and its retries."""

    pixels: Pixels
    mask: NDArray[np.bool_] | None
    size: tuple[int, int]


def reference(source: bytes, mask: bytes | None) -> Reference:
    """Decode a source image (and its mask) at the common size."""
    pixels, size = _decoded(source, COMMON_SIDE)
    common = _common_size(*size)
    mask_pixels = None
    if mask is not None:
        with Image.open(io.BytesIO(mask)) as image:
            grey = np.asarray(image.convert("L"), dtype=np.uint8)
        mask_pixels = np.asarray(cv2.resize(grey, common, interpolation=cv2.INTER_NEAREST) >= 128)
    return Reference(pixels=_resized(pixels, common), mask=mask_pixels, size=size)


def reference_from_pixels(source: Pixels, mask: NDArray[np.uint8] | None) -> Reference:
    """`reference` of pixels already decoded (the local engine's own): RGB uint8, and a greyscale mask."""
    size = (source.shape[1], source.shape[0])
    common = _common_size(*size)
    mask_pixels = None
    if mask is not None:
        mask_pixels = np.asarray(cv2.resize(mask, common, interpolation=cv2.INTER_NEAREST) >= 128)
    return Reference(pixels=_resized(source, common), mask=mask_pixels, size=size)


def make_sample(output: bytes, source: Reference | None, asked: tuple[int, int] | None, prompt: str) -> Sample:
    """Decode one output and resize it to its source's common size (its own without a source)."""
    pixels, size = _decoded(output, COMMON_SIDE)
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
    common = _common_size(*size) if source is None else (source.pixels.shape[1], source.pixels.shape[0])
    return Sample(
        output=_resized(pixels, common),
        output_size=size,
        source=None if source is None else source.pixels,
        mask=None if source is None else source.mask,
        asked=asked or (None if source is None else source.size),
        prompt=prompt,
    )


def builtin_scores(sample: Sample) -> dict[str, float | bool | str | None]:
    """Every built-in score of `sample` (README "Quality" defines each); `duplicate_distance` is set by the gate."""
    outside = None if sample.mask is None else _beyond(sample.mask)
    luma = _luma(sample.output)  # once: every luminance score shares it
    source = None if sample.source is None else _luma(sample.source)
    return {
        "ssim_outside_mask": None if source is None else _ssim(source, luma, outside),
        "changed": None if sample.source is None else changed(sample.source, sample.output, sample.mask),
        "blank": bool(luma.std() < _BLANK_STD),
        "clipped": float(np.count_nonzero((luma == 0) | (luma == 255)) / luma.size),
        "sharpness": float(cv2.Laplacian(luma, cv2.CV_32F, ksize=1).var(dtype=np.float64)),
        "aspect_error": None if sample.asked is None else _aspect_error(sample.output_size, sample.asked),
        "dhash": _dhash(luma),
    }


def ssim(a: Pixels, b: Pixels, where: NDArray[np.bool_] | None = None) -> float | None:
    """Mean structural similarity of two same-size images' luminance, over `where` (all pixels when None).

    Outside a mask, `where` leaves out the pixels whose 7 px window reaches the mask (`builtin_scores`).

    Returns:
        SSIM in [-1, 1]; None when `where` selects no pixel (the mask covers the whole image).
    """
    return _ssim(_luma(a), _luma(b), where)


def _ssim(x: Luma, y: Luma, where: NDArray[np.bool_] | None) -> float | None:
    blur = _gauss
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + _C1) * (2 * cxy + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    if where is None:
        return float(index.mean(dtype=np.float64))
    count = np.count_nonzero(where)
    # A product and a sum, not boolean indexing (which copies the selected values: several times slower).
    return float(np.multiply(index, where, dtype=np.float32).sum(dtype=np.float64) / count) if count else None


def changed(a: Pixels, b: Pixels, where: NDArray[np.bool_] | None = None) -> float | None:
    """Mean absolute difference of two same-size RGB images, in [0, 1], over `where` (everywhere when None)."""
    bands = cv2.absdiff(a, b).astype(np.float32)
    # The bands summed one by one: numpy's mean over a last axis of three is ten times slower.
    diff = (bands[..., 0] + bands[..., 1] + bands[..., 2]) / (3 * 255.0)
    if where is None:
        return float(diff.mean(dtype=np.float64))
    count = np.count_nonzero(where)
    return float(np.multiply(diff, where, dtype=np.float32).sum(dtype=np.float64) / count) if count else None


def is_blank(image: Pixels) -> bool:
    """Near-blank: the luminance hardly varies (one flat colour, white, black)."""
    return bool(_luma(image).std(dtype=np.float64) < _BLANK_STD)


def clipped(image: Pixels) -> float:
    """The share of pixels whose luminance is pure black (0) or pure white (255): clipped exposure."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(np.count_nonzero((grey == 0) | (grey == 255)) / grey.size)


def sharpness(image: Pixels) -> float:
    """Variance of the 4-neighbour Laplacian of the luminance (0..255): low means blurred or flat."""
    return float(cv2.Laplacian(_luma(image), cv2.CV_32F, ksize=1).var(dtype=np.float64))


def aspect_error(image: Pixels, asked: tuple[int, int]) -> float:
    """How far the output's aspect ratio is from the asked one, relative: |ratio / asked ratio - 1|."""
    height, width = image.shape[:2]
    return _aspect_error((width, height), asked)


def _aspect_error(size: tuple[int, int], asked: tuple[int, int]) -> float:
    return float(abs((size[0] / size[1]) / (asked[0] / asked[1]) - 1.0))


def dhash(image: Pixels) -> str:
    """A 64-bit difference hash (16 hex digits): each bit says whether a pixel is brighter than its left neighbour."""
    return _dhash(_luma(image))


def _dhash(luma: Luma) -> str:
    small = cv2.resize(luma, (9, 8), interpolation=cv2.INTER_AREA)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return f"{int(''.join('1' if bit else '0' for bit in bits), 2):016x}"


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two `dhash` values: 0 for the same picture, about 32 for unrelated ones."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _beyond(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels whose SSIM window does not reach the mask: the asked-for edit must not count against preservation."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones(_WINDOW, np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(grown == 0)


def _luma(image: Pixels) -> Luma:
    # float32 halves the memory traffic of the five blurs; values stay whole numbers 0..255.
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _gauss(plane: Luma) -> Luma:
    return np.asarray(cv2.GaussianBlur(plane, _WINDOW, _SIGMA, borderType=cv2.BORDER_REFLECT), dtype=np.float32)


def _decoded(data: bytes, at_least: int) -> tuple[Pixels, tuple[int, int]]:
    """The pixels (reduced for a large JPEG, see `decode`) and the image's own (width, height)."""
    with Image.open(io.BytesIO(data)) as probe:
        kind, size = probe.format, probe.size
    flag = cv2.IMREAD_COLOR
    if kind == "JPEG" and at_least:
        for factor, reduced in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                (2, cv2.IMREAD_REDUCED_COLOR_2)):  # fmt: skip
            if max(size) // factor >= at_least:
                flag = reduced
                break
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if pixels is None:  # a format OpenCV lacks (GIF, some TIFFs): Pillow reads it
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8), size
    return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), dtype=np.uint8), size


def common_size(width: int, height: int) -> tuple[int, int]:
    """The size an image of (width, height) is scored at: its own, its long side capped at `COMMON_SIDE`."""
    return _common_size(width, height)


def _common_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, COMMON_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resized(image: Pixels, size: tuple[int, int]) -> Pixels:
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
