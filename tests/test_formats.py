"""The one table of image formats agrees with Pillow and with itself: names, extensions, media types, bytes."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tasks.core import formats
from tasks.core.formats import FORMATS, ImageFormat


def _encoded(fmt: ImageFormat) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "teal").save(buffer, format=formats.PILLOW_NAMES[fmt])
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_through_pillow_and_every_table(fmt: ImageFormat) -> None:
    data = _encoded(fmt)
    with Image.open(io.BytesIO(data)) as image:
        assert formats.format_from_pillow(image.format) == fmt
    assert formats.sniff_format(data) == fmt
    assert formats.sniff_media_type(data) == formats.MEDIA_TYPES[fmt]
    assert formats.format_from_media_type(formats.MEDIA_TYPES[fmt]) == fmt
    assert formats.format_from_name(f"out.{formats.EXTENSIONS[fmt]}") == fmt
    assert formats.parse_format(fmt.upper()) == fmt


@pytest.mark.parametrize(
    ("name", "expected"),
    [("JPG", "jpeg"), (" jpeg ", "jpeg"), ("Png", "png"), ("webp", "webp"), ("gif", None), ("", None)],
)
def test_parse_format_takes_our_names_and_jpg(name: str, expected: str | None) -> None:
    assert formats.parse_format(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.JPG", "jpeg"),
        ("https://cdn/x/out.webp?sig=1.png", "webp"),  # the query is not the path
        ("https://cdn/x/out", None),
        ("png", None),  # no extension at all
        ("data/cat.tiff", None),
    ],
)
def test_format_from_name_reads_the_path_extension(name: str, expected: str | None) -> None:
    assert formats.format_from_name(name) == expected


def test_other_images_are_sniffed_but_are_not_ours() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, format="GIF")
    assert formats.sniff_media_type(buffer.getvalue()) == "image/gif"
    assert formats.sniff_format(buffer.getvalue()) is None
    assert formats.sniff_media_type(b"not an image") == "application/octet-stream"
    assert formats.format_from_media_type("image/jpeg; q=0.9") == "jpeg"
    assert formats.format_from_media_type("text/png") is None


def test_a_camera_jpeg_reads_as_jpeg() -> None:
    assert formats.format_from_pillow("MPO") == "jpeg"
    assert formats.format_from_pillow(None) is None
