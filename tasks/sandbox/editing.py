"""Stand-in generations: each output is a real edit of the input by the local engine."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from tasks.core.errors import InstructionError
from tasks.imaging import EditedImage, edit_image_bytes

__all__ = ["EditSpec", "derived_seed", "render_edits"]

# Real providers accept any prompt. When the engine cannot read one ("put the bag on a beach"), the
# sandbox still answers with a visible, deterministic edit seeded from the prompt and the seed.


@dataclass(frozen=True)
class EditSpec:
    """What one job asks for.

    Attributes:
        prompt: the request's prompt, tried first as engine instructions.
        seeds: one seed per output image.
        mask: an encoded mask the size of the image, if the request sent one.
        mask_region: where the fallback edit goes: ``inside`` the mask (white) or ``outside`` it.
        output_format: ``png``/``jpeg``/``webp``; None keeps the input's format.
        size: resize every output to (width, height) after the edit.
    """

    prompt: str
    seeds: tuple[int, ...]
    mask: bytes | None = None
    mask_region: Literal["inside", "outside"] = "inside"
    output_format: str | None = None
    size: tuple[int, int] | None = None


def derived_seed(*parts: object) -> int:
    """A stable 32-bit seed from any parts (job id and output index, prompt and seed...)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def render_edits(data: bytes, spec: EditSpec) -> list[EditedImage]:
    """One edited image per seed (CPU work: run it in a thread).

    Raises:
        SourceError: the image or mask cannot be decoded.
    """
    return [_resize(_edit_one(data, spec, seed), spec.size) for seed in spec.seeds]


def _edit_one(data: bytes, spec: EditSpec, seed: int) -> EditedImage:
    try:
        return edit_image_bytes(data, spec.prompt, seed=seed, mask=spec.mask, output_format=spec.output_format)
    except InstructionError:
        # The prompt is not engine instructions (or does not fit this image): a seeded visible edit.
        where = f" {spec.mask_region} the mask" if spec.mask is not None else ""
        fallback = f"jitter 0.3{where}, noise 4{where}"
        return edit_image_bytes(
            data, fallback, seed=derived_seed(spec.prompt, seed), mask=spec.mask, output_format=spec.output_format
        )


def _resize(image: EditedImage, size: tuple[int, int] | None) -> EditedImage:
    if size is None or size == (image.width, image.height):
        return image
    return edit_image_bytes(image.data, f"resize {size[0]}x{size[1]}", output_format=image.format)
