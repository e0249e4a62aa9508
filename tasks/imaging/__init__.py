"""The local edit engine: classical image edits read from a small instruction language."""

from __future__ import annotations

from tasks.imaging.codec import EditedImage, check_quality, encode, resolve_format
from tasks.imaging.engine import DecodedSource, apply_instructions, apply_operations, decode_source, edit_image_bytes
from tasks.imaging.operation import Operation
from tasks.imaging.parse import parse_instructions
from tasks.imaging.words import KNOWN_WORDS

__all__ = [
    "KNOWN_WORDS",
    "DecodedSource",
    "EditedImage",
    "Operation",
    "apply_instructions",
    "apply_operations",
    "check_quality",
    "decode_source",
    "edit_image_bytes",
    "encode",
    "parse_instructions",
    "resolve_format",
]
