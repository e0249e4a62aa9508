"""Bad-output faults: a job that succeeds and bills, but whose images are blank, unchanged, or changed off the mask."""

from __future__ import annotations

from PIL import Image, ImageOps

from tasks.imaging.codec import EditedImage, decode, encode
from tasks.sandbox.editing import EditSpec
from tasks.sandbox.faults import SPOILING, Fault

__all__ = ["SPOILING", "spoil"]


def spoil(fault: Fault | None, images: list[EditedImage], source: bytes, spec: EditSpec) -> list[EditedImage]:
    """`images` as a `fault` leaves them (unchanged when the fault spoils nothing; CPU work).

    - blank: one flat mid-grey image the output's size;
    - unchanged: the source itself, at the output's size and format;
    - off_mask: the output inverted where it had to stay as it was (outside the mask; everywhere without one).
    """
    if fault not in SPOILING:
        return images
    return [_spoiled(fault, image, source, spec) for image in images]


def _spoiled(fault: Fault, image: EditedImage, source: bytes, spec: EditSpec) -> EditedImage:
    size = (image.width, image.height)
    if fault is Fault.BLANK:
        return encode(Image.new("RGB", size, (128, 128, 128)), image.format)
    if fault is Fault.UNCHANGED:
        original, _ = decode(source)
        return encode(original.convert("RGB").resize(size), image.format)
    edited, _ = decode(image.data, "output")
    inverted = ImageOps.invert(edited.convert("RGB"))
    if spec.mask is None:
        return encode(inverted, image.format)
    keep, _ = decode(spec.mask, "mask")
    inside = keep.convert("L").resize(size).point(lambda value: 255 if value >= 128 else 0)
    return encode(Image.composite(edited.convert("RGB"), inverted, inside), image.format)
