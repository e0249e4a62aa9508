"""The local edit engine: decode, apply the prompt's operations, encode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from tasks.core.errors import InstructionError, SourceError
from tasks.core.formats import ImageFormat
from tasks.imaging.codec import EditedImage, check_quality, decode, encode, normalize, resolve_format
from tasks.imaging.color import PIXEL_OPS
from tasks.imaging.geometry import plan_warp
from tasks.imaging.masking import blend, inpaint
from tasks.imaging.operation import GEOMETRY, Context, Operation
from tasks.imaging.parse import parse_instructions
from tasks.imaging.tokens import quote

__all__ = ["DecodedSource", "apply_instructions", "apply_operations", "decode_source", "edit_image_bytes"]


@dataclass(frozen=True)
class DecodedSource:
    """A source (and its mask) decoded once, upright, for every output of a job.

    Attributes:
        image: the source as the engine works on it (RGB, or RGBA with transparency).
        format: the source's format, when it is one the engine writes.
        mask: the mask, greyscale; None without one.
    """

    image: Image.Image
    format: ImageFormat | None
    mask: Image.Image | None


def decode_source(data: bytes, mask: bytes | None = None) -> DecodedSource:
    """Decode a source image and its mask as `edit_image_bytes` does, to edit it several times.

    Raises:
        SourceError: the image or mask cannot be decoded, or Pillow cannot convert the image's mode.
    """
    image, source_format = decode(data, "source image")
    mask_image = decode(mask, "mask")[0] if mask is not None else None
    return DecodedSource(normalize(image), source_format, mask_image)


def edit_image_bytes(
    data: bytes,
    prompt: str,
    *,
    seed: int = 0,
    mask: bytes | None = None,
    output_format: str | None = None,
    quality: int = 90,
) -> EditedImage:
    """Decode an image, apply the prompt's instructions, encode the result.

    Args:
        data: the source image, encoded (anything Pillow reads).
        prompt: the edit instructions, e.g. ``"grayscale, then rotate 90"``.
        seed: seeds the random steps (noise, jitter, random crop); same seed, same bytes.
        mask: an encoded mask the size of the source; white marks the area masked steps edit.
        output_format: ``png``, ``jpeg``/``jpg`` or ``webp`` (any case); None keeps the source's
            format, falling back to png.
        quality: JPEG/WebP quality, 1 to 100.

    Returns:
        The encoded result with its format and size.

    Raises:
        SourceError: the image or mask cannot be decoded, or the mask's size differs from the image's.
        InstructionError: the prompt cannot be read or does not fit the image, or output_format or
            quality is invalid.
    """
    # Bad arguments and prompts fail before any decoding work.
    operations = parse_instructions(prompt)
    resolve_format(output_format, None)
    check_quality(quality)
    image, source_format = decode(data, "source image")
    mask_image = decode(mask, "mask")[0] if mask is not None else None
    result = apply_operations(image, operations, seed=seed, mask=mask_image)
    return encode(result, resolve_format(output_format, source_format), quality)


def apply_instructions(
    image: Image.Image, prompt: str, *, seed: int = 0, mask: Image.Image | None = None
) -> Image.Image:
    """Apply a prompt's instructions to a decoded image.

    Args:
        image: any Pillow image; worked on as RGB, or RGBA when it has transparency.
        prompt: the edit instructions.
        seed: seeds the random steps; same seed, same pixels.
        mask: same size as ``image``; white (after conversion to greyscale) marks the masked area.

    Returns:
        A new RGB or RGBA image; the input is not modified.

    Raises:
        InstructionError: the prompt cannot be read or does not fit the image, or a masked step
            has no mask.
        SourceError: the mask's size differs from the image's.
    """
    return apply_operations(image, parse_instructions(prompt), seed=seed, mask=mask)


def apply_operations(
    image: Image.Image,
    operations: Sequence[Operation],
    *,
    seed: int = 0,
    mask: Image.Image | None = None,
) -> Image.Image:
    """Apply already parsed operations (see ``apply_instructions``); parse once, apply to many.

    Raises:
        InstructionError: a step does not fit the image, or a masked step has no mask.
        SourceError: the mask's size differs from the image's.
    """
    image = normalize(image)
    mask = _check_mask(image, mask, operations)
    ctx = Context.from_seed(seed)
    for operation in operations:
        image, mask = _apply(image, mask, operation, ctx)
    return image


def _check_mask(image: Image.Image, mask: Image.Image | None, operations: Sequence[Operation]) -> Image.Image | None:
    if mask is None:
        for operation in operations:
            if operation.needs_mask:
                raise InstructionError(
                    f"step {quote(operation.text)}: a mask is required (white = the area to "
                    f"{'fill' if operation.name == 'inpaint' else 'edit'}), and none was given",
                    step=operation.text,
                )
        return None
    if mask.size != image.size:
        raise SourceError(
            f"the mask is {mask.width}x{mask.height} but the image is {image.width}x{image.height}; "
            "they must be the same size",
            field="mask",
        )
    return mask if mask.mode == "L" else mask.convert("L")


def _apply(
    image: Image.Image, mask: Image.Image | None, operation: Operation, ctx: Context
) -> tuple[Image.Image, Image.Image | None]:
    """One step: returns the new image and the mask, moved along with any geometric change."""
    if operation.name == "inpaint":
        assert mask is not None  # _check_mask refused a mask-less inpaint
        return inpaint(image, mask, operation.args[0]), mask
    if operation.name in GEOMETRY:
        warp = plan_warp(operation, image.size, ctx)
        edited = warp(image, False)
        if operation.region == "all":
            return edited, None if mask is None else warp(mask, True)
    else:
        edited = PIXEL_OPS[operation.name](image, operation, ctx)
    if operation.region == "all":
        return edited, mask
    assert mask is not None  # _check_mask refused a masked step without a mask
    return blend(edited, image, mask, operation.region), mask
