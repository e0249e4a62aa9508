"""edit_image_bytes: decoding, output formats, seeds and the errors callers map per job."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from tasks.core.errors import InstructionError, SourceError
from tasks.imaging import EditedImage, edit_image_bytes

Encode = Callable[..., bytes]


def opened(result: EditedImage) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("requested", "expected", "pillow_name"),
    [
        ("png", "png", "PNG"),
        ("PNG", "png", "PNG"),
        ("jpeg", "jpeg", "JPEG"),
        ("JPG", "jpeg", "JPEG"),
        ("webp", "webp", "WEBP"),
        ("WebP", "webp", "WEBP"),
    ],
)
def test_output_formats_round_trip(
    photo: Image.Image, to_bytes: Encode, requested: str, expected: str, pillow_name: str
) -> None:
    result = edit_image_bytes(to_bytes(photo), "rotate 90", output_format=requested)
    image = opened(result)
    assert (result.format, result.width, result.height) == (expected, 48, 64)
    assert image.format == pillow_name and image.size == (48, 64)


@pytest.mark.parametrize(
    ("source", "expected"),
    [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("GIF", "png"), ("BMP", "png"), ("TIFF", "png")],
)
def test_no_output_format_keeps_the_source_format(
    photo: Image.Image, to_bytes: Encode, source: str, expected: str
) -> None:
    result = edit_image_bytes(to_bytes(photo, source), "invert")
    assert result.format == expected and opened(result).format == expected.upper()


def test_png_output_is_lossless(photo: Image.Image, to_bytes: Encode) -> None:
    result = opened(edit_image_bytes(to_bytes(photo), "invert"))
    assert (np.asarray(result).astype(int) == 255 - np.asarray(photo).astype(int)).all()


def test_jpeg_drops_alpha_onto_white(to_bytes: Encode) -> None:
    clear = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    result = edit_image_bytes(to_bytes(clear), "blur 1", output_format="jpeg", quality=95)
    image = opened(result)
    assert image.mode == "RGB" and np.asarray(image).min() > 245
    kept = opened(edit_image_bytes(to_bytes(clear), "blur 1", output_format="webp"))
    assert kept.mode == "RGBA"


def test_random_crop_bytes_depend_on_the_seed(photo: Image.Image, to_bytes: Encode) -> None:
    source = to_bytes(photo)
    first = edit_image_bytes(source, "random crop 24x24", seed=11)
    assert edit_image_bytes(source, "random crop 24x24", seed=11).data == first.data
    assert edit_image_bytes(source, "random crop 24x24", seed=12).data != first.data
    assert edit_image_bytes(source, "random crop 24x24", seed=-11).data != first.data
    assert (first.width, first.height) == (24, 24)


def test_steps_without_randomness_ignore_the_seed(photo: Image.Image, to_bytes: Encode) -> None:
    source = to_bytes(photo, "JPEG")
    assert edit_image_bytes(source, "sepia", seed=1).data == edit_image_bytes(source, "sepia", seed=2).data


def test_a_mask_can_be_passed_as_bytes(photo: Image.Image, box_mask: Image.Image, to_bytes: Encode) -> None:
    result = opened(edit_image_bytes(to_bytes(photo), "inside the mask: invert", mask=to_bytes(box_mask)))
    where = np.asarray(box_mask) > 127
    edited, source = np.asarray(result).astype(int), np.asarray(photo).astype(int)
    assert (edited[where] == 255 - source[where]).all() and (edited[~where] == source[~where]).all()


def test_exif_orientation_is_applied_before_editing(photo: Image.Image, to_bytes: Encode) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    result = edit_image_bytes(to_bytes(photo, "JPEG", exif=exif), "invert")
    assert (result.width, result.height) == (48, 64)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_undecodable_bytes_are_a_source_error(data: bytes) -> None:
    with pytest.raises(SourceError, match="source image"):
        edit_image_bytes(data, "invert")


def test_truncated_image_is_a_source_error(photo: Image.Image, to_bytes: Encode) -> None:
    with pytest.raises(SourceError, match="could not be decoded"):
        edit_image_bytes(to_bytes(photo)[:200], "invert")


def test_undecodable_or_misfit_masks_are_source_errors(photo: Image.Image, to_bytes: Encode) -> None:
    with pytest.raises(SourceError, match="mask"):
        edit_image_bytes(to_bytes(photo), "inpaint", mask=b"garbage")
    with pytest.raises(SourceError, match="the mask is 10x10 but the image is 64x48"):
        edit_image_bytes(to_bytes(photo), "inpaint", mask=to_bytes(Image.new("L", (10, 10))))


def test_a_bad_prompt_fails_before_decoding() -> None:
    with pytest.raises(InstructionError, match='could not read "make it pop"'):
        edit_image_bytes(b"not an image", "make it pop")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"output_format": "gif"}, "output_format must be one of"),
        ({"quality": 0}, "quality must be"),
        ({"quality": 101}, "quality must be"),
    ],
)
def test_bad_encoding_options_are_instruction_errors(
    photo: Image.Image, to_bytes: Encode, options: dict[str, object], expected: str
) -> None:
    with pytest.raises(InstructionError, match=expected):
        edit_image_bytes(to_bytes(photo), "invert", **options)  # type: ignore[arg-type]


def test_edited_image_is_a_frozen_value(photo: Image.Image, to_bytes: Encode) -> None:
    result = edit_image_bytes(to_bytes(photo), "invert")
    with pytest.raises(AttributeError):
        result.width = 1  # type: ignore[misc]
    assert result == edit_image_bytes(to_bytes(photo), "invert")
