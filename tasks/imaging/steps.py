"""Split an edit prompt into steps, each tagged with the mask region it applies to."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Step", "split_steps"]

# Commas inside these are not step separators: a crop box, and phrases that contain "and".
_PROTECTED = re.compile(
    r"[-+]?\d+\s*,\s*[-+]?\d+\s*,\s*[-+]?\d+\s*,\s*[-+]?\d+"
    r"|\bblack\s+(?:and|&)\s+white\b"
    r"|\b(?:left|right|top|bottom)\s+(?:and|&)\s+(?:left|right|top|bottom)\b",
    re.IGNORECASE,
)
# A period ends a step only before whitespace or the end, so "1.3" stays one number.
_SEPARATOR = re.compile(r"[;,\n]|\.(?=\s|$)|\bthen\b|\band\b|&", re.IGNORECASE)

_MASK = r"(?:the\s+)?(?:masked\s+(?:area|region|part|pixels)|mask(?:ed)?(?:\s+(?:area|region))?)"
_INSIDE = rf"(?:only\s+)?(?:inside|in|within|on)\s+{_MASK}(?:\s+only)?"
_OUTSIDE = rf"(?:only\s+)?outside\s+(?:of\s+)?{_MASK}(?:\s+only)?"
_WHOLE = r"everywhere|(?:on\s+|to\s+)?(?:the\s+)?(?:whole|entire|full|rest\s+of\s+the)\s+image"

# A prefix ("inside the mask: blur") sets the region for every later step until the next prefix.
_PREFIXES = (
    (re.compile(rf"^{_OUTSIDE}\s*:?\s*", re.IGNORECASE), "outside"),
    (re.compile(rf"^{_INSIDE}\s*:?\s*", re.IGNORECASE), "inside"),
    (re.compile(rf"^(?:{_WHOLE})\s*:?\s*", re.IGNORECASE), "all"),
)
# A suffix ("blur 3 inside the mask", "erase the masked area") sets it for its own step only.
_SUFFIXES = (
    (re.compile(rf"\s+{_OUTSIDE}$", re.IGNORECASE), "outside"),
    (re.compile(rf"\s+{_INSIDE}$", re.IGNORECASE), "inside"),
    (re.compile(rf"\s+(?:{_WHOLE})$", re.IGNORECASE), "all"),
    (re.compile(r"\s+(?:the\s+)?masked\s+(?:area|region|part|pixels|object)$", re.IGNORECASE), "inside"),
)


@dataclass(frozen=True)
class Step:
    """The text of one step (original spelling, scope words removed) and the region it applies to."""

    text: str
    region: str


def split_steps(prompt: str) -> list[Step]:
    """Split a prompt on commas, semicolons, sentence ends, "then" and "and".

    Args:
        prompt: the edit prompt, in any case.

    Returns:
        The non-empty steps in order; a lone scope prefix ("inside the mask:") yields no step.
    """
    steps: list[Step] = []
    region = "all"
    for piece in _pieces(prompt):
        text, region, own_region = _scope(piece, region)
        if text:
            steps.append(Step(text=text, region=own_region))
    return steps


def _pieces(prompt: str) -> list[str]:
    protected = [match.span() for match in _PROTECTED.finditer(prompt)]
    pieces: list[str] = []
    start = 0
    for match in _SEPARATOR.finditer(prompt):
        if any(low <= match.start() < high for low, high in protected):
            continue
        pieces.append(prompt[start : match.start()])
        start = match.end()
    pieces.append(prompt[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


def _scope(piece: str, region: str) -> tuple[str, str, str]:
    """Return (text without scope words, region for later steps, region for this step)."""
    for pattern, prefix_region in _PREFIXES:
        match = pattern.match(piece)
        if match:
            piece, region = piece[match.end() :], prefix_region
            break
    for pattern, suffix_region in _SUFFIXES:
        match = pattern.search(piece)
        if match:
            return piece[: match.start()].strip(), region, suffix_region
    return piece.strip(), region, region
