"""The local edit engine: classical image edits read from a small instruction language."""

from __future__ import annotations

from tasks.imaging.codec import EditedImage
from tasks.imaging.engine import apply_instructions, edit_image_bytes
from tasks.imaging.operation import Operation
from tasks.imaging.parse import parse_instructions
from tasks.imaging.words import KNOWN_WORDS

__all__ = [
    "KNOWN_WORDS",
    "EditedImage",
    "Operation",
    "apply_instructions",
    "edit_image_bytes",
    "parse_instructions",
]
