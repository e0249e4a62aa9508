"""Image formats by retouch's names (png, jpeg, webp): aliases, file extensions, media types, Pillow names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "MEDIA_TYPES",
    "PILLOW_NAMES",
    "ImageFormat",
    "format_from_media_type",
    "format_from_name",
    "format_from_pillow",
    "parse_format",
    "sniff_format",
    "sniff_media_type",
]

ImageFormat = Literal["png", "jpeg", "webp"]
FORMATS: tuple[ImageFormat, ...] = ("png", "jpeg", "webp")
# The extension written for each format (".jpg", the one every tool opens, not ".jpeg").
EXTENSIONS: Mapping[ImageFormat, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}
MEDIA_TYPES: Mapping[ImageFormat, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
PILLOW_NAMES: Mapping[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

_ALIASES: Mapping[str, ImageFormat] = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}
# Pillow's name for a decoded file -> ours; MPO is the multi-picture JPEG many cameras write.
_FROM_PILLOW: Mapping[str, ImageFormat] = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp"}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def parse_format(name: str) -> ImageFormat | None:
    """Our name for `name` (png, jpeg or jpg, webp; any case, spaces around), else None."""
    return _ALIASES.get(name.strip().lower())


def format_from_pillow(name: str | None) -> ImageFormat | None:
    """Our name for the format Pillow reports for a decoded file (`Image.format`), else None."""
    return _FROM_PILLOW.get(name or "")


def format_from_name(name: str) -> ImageFormat | None:
    """The format a file name's or URL path's extension names (`a.JPG`, `https://cdn/x.webp?sig=1`), else None."""
    _, dot, suffix = urlsplit(name).path.rpartition(".")
    return parse_format(suffix) if dot else None


def format_from_media_type(media_type: str) -> ImageFormat | None:
    """The format of a media type such as `image/jpeg` (parameters ignored), else None."""
    kind, _, subtype = media_type.split(";", 1)[0].strip().lower().partition("/")
    return parse_format(subtype) if kind == "image" else None


def sniff_media_type(data: bytes) -> str:
    """The media type from a file's magic bytes (PNG, JPEG, WebP, GIF, BMP, TIFF); octet-stream when unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    return "application/octet-stream"


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format from a file's magic bytes when it is one of ours, else None."""
    return format_from_media_type(sniff_media_type(data))
