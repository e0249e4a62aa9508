"""The words of one step, and readers for the numbers, sizes and colours in them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from PIL import ImageColor

from tasks.core.errors import InstructionError

__all__ = ["Tokens", "as_color", "as_number", "as_percent", "as_pixels", "as_size", "quote", "tokenize"]

# Spellings folded together before splitting, so "64 x 48", "64 by 48" and "20 pixels" read as one token.
_JOINS = (
    (re.compile(r"(\d)\s*(?:x|\u00d7|\*|by)\s*(\d)"), r"\1x\2"),
    (re.compile(r"(\d)\s*(?:pixels?|pxs?)\b"), r"\1px"),
    (re.compile(r"(\d)\s+%"), r"\1%"),
    (re.compile(r"(?<=\d)\s*,\s*(?=[-+]?\d)"), " "),
    (re.compile(r"°"), " degrees "),
)
_TOKEN = re.compile(r"#[0-9a-f]{3,8}\b|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:x\d+|%|px)?|[a-z]+(?:[-'][a-z]+)*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_SIZE = re.compile(r"(\d+)x(\d+)")


def tokenize(text: str) -> list[str]:
    """Lower-case a step and split it into words, numbers (``30%``, ``20px``, ``64x48``) and ``#hex``."""
    text = text.lower()
    for pattern, replacement in _JOINS:
        text = pattern.sub(replacement, text)
    return _TOKEN.findall(text)


def quote(text: str, limit: int = 160) -> str:
    """Quote user text for an error message, shortened so a huge prompt stays readable."""
    text = " ".join(text.split())
    return '"' + (text if len(text) <= limit else text[: limit - 3] + "...") + '"'


def as_number(token: str | None) -> float | None:
    """``"1.5"`` → 1.5; anything else → None."""
    return float(token) if token is not None and _NUMBER.fullmatch(token) else None


def as_percent(token: str | None) -> float | None:
    """``"30%"`` → 30.0 (sign kept); anything else → None."""
    if token is None or not token.endswith("%"):
        return None
    return as_number(token[:-1])


def as_pixels(token: str | None) -> float | None:
    """``"20px"`` or ``"20"`` → 20.0; anything else → None."""
    if token is not None and token.endswith("px"):
        token = token[:-2]
    return as_number(token)


def as_size(token: str | None) -> tuple[int, int] | None:
    """``"64x48"`` → (64, 48); anything else → None."""
    match = _SIZE.fullmatch(token or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def as_color(token: str | None) -> tuple[int, int, int, int] | None:
    """A colour name (``red``), ``#rgb``/``#rrggbb[aa]`` or ``transparent`` → RGBA; else None."""
    if token is None:
        return None
    if token == "transparent":
        return (0, 0, 0, 0)
    try:
        rgb = ImageColor.getrgb(token)
    except ValueError:
        return None
    return (rgb[0], rgb[1], rgb[2], rgb[3] if len(rgb) == 4 else 255)


class Tokens:
    """A cursor over one step's words that builds errors naming the step and its usage.

    Args:
        words: the step's tokens after the operation word.
        step: the step as the user wrote it.
        usage: how the operation is written, e.g. ``blur [radius]``.
        max_side: the largest width or height a size may give.
    """

    def __init__(self, words: Iterable[str], step: str, usage: str, max_side: int) -> None:
        self.words = list(words)
        self.max_side = max_side
        self.pos = 0
        self.step = step
        self.usage = usage

    def peek(self) -> str | None:
        """The next word, without consuming it."""
        return self.words[self.pos] if self.pos < len(self.words) else None

    def next(self) -> str | None:
        """Consume and return the next word (None at the end)."""
        word = self.peek()
        if word is not None:
            self.pos += 1
        return word

    def read(self, parse: Callable[[str | None], float | None]) -> float | None:
        """Consume and return the next word's value if ``parse`` (``as_number``, ...) accepts it."""
        value = parse(self.peek())
        if value is not None:
            self.pos += 1
        return value

    def size(self) -> tuple[int, int] | None:
        """Consume ``64x48`` or ``64 48``; each side must be a whole number from 1 to ``max_side``."""
        size = as_size(self.peek())
        if size is not None:
            self.pos += 1
            return (self.whole(size[0], 1, self.max_side, "width"), self.whole(size[1], 1, self.max_side, "height"))
        after = self.words[self.pos + 1] if self.pos + 1 < len(self.words) else None
        if as_number(self.peek()) is None or as_number(after) is None:
            return None
        width, height = self.read(as_number), self.read(as_number)
        return (self.whole(width or 0, 1, self.max_side, "width"), self.whole(height or 0, 1, self.max_side, "height"))

    def take(self, *choices: str) -> str | None:
        """Consume the next word if it is one of ``choices``."""
        word = self.peek()
        if word is not None and word in choices:
            self.pos += 1
            return word
        return None

    def skip(self, *fillers: str) -> None:
        """Consume any run of words from ``fillers``."""
        while self.take(*fillers):
            pass

    def finish(self) -> None:
        """Raise if any word is left unread."""
        if self.pos < len(self.words):
            raise self.error(f"could not read {quote(' '.join(self.words[self.pos :]))}")

    def error(self, problem: str) -> InstructionError:
        """An InstructionError naming this step, the problem and how the step is written."""
        return InstructionError(f"step {quote(self.step)}: {problem}; write it as: {self.usage}", step=self.step)

    def check(self, value: float, low: float, high: float, what: str) -> float:
        """Return ``value`` if ``low <= value <= high``, else raise naming the accepted range."""
        if not low <= value <= high:
            raise self.error(f"{what} must be from {low:g} to {high:g}, got {value:g}")
        return value

    def whole(self, value: float, low: int, high: int, what: str) -> int:
        """Like ``check``, and the value must also be a whole number."""
        if value != int(value):
            raise self.error(f"{what} must be a whole number from {low} to {high}, got {value:g}")
        return int(self.check(value, low, high, what))
