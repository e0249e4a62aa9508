"""How each operation reads its arguments from the words after the operation word."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tasks.imaging.operation import MAX_SIDE
from tasks.imaging.tokens import Tokens, as_color, as_number, as_percent, as_pixels, as_size, quote
from tasks.imaging.words import MODIFIERS

__all__ = ["PARSERS"]

#: (tokens after the op word, direction from the wording) -> (operation name, args).
Parser = Callable[[Tokens, int], tuple[str, tuple[Any, ...]]]

_CLOCKWISE = ("clockwise", "cw", "right")
_COUNTER = ("counterclockwise", "counter-clockwise", "anticlockwise", "anti-clockwise", "ccw", "left")
_VERTICAL = ("vertical", "vertically", "upside", "down", "upside-down", "top", "bottom", "over")
_HORIZONTAL = ("horizontal", "horizontally", "sideways", "left", "right")
_SIDES = {
    "left": ("left",), "right": ("right",), "top": ("top",), "bottom": ("bottom",),
    "horizontal": ("left", "right"), "horizontally": ("left", "right"),
    "vertical": ("top", "bottom"), "vertically": ("top", "bottom"),
}  # fmt: skip
_FILL_MODES = {
    "edge": "edge", "edges": "edge", "mirror": "mirror", "mirrored": "mirror", "reflect": "mirror",
    "blur": "blur", "blurred": "blur", "blurry": "blur",
}  # fmt: skip
_PAD_FILLERS = frozenset({
    "fill", "filled", "color", "colour", "border", "each", "side", "sides", "all", "around", "padding",
    "canvas", "mode", "pixels",
})  # fmt: skip
_WHITE = (255, 255, 255, 255)


def _no_args(name: str, *fillers: str) -> Parser:
    def parse(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
        tokens.skip(*fillers)
        tokens.finish()
        return name, ()

    return parse


def _factor(tokens: Tokens, sign: int, default_change: float = 0.2) -> float:
    """A multiplier: ``1.3``; a change ``+30%`` / ``-20%`` (or a bare percent after a verb); a level ``130%``."""
    word = tokens.take(*MODIFIERS)
    sign = MODIFIERS[word] if word else sign
    token = tokens.peek()
    percent, number = as_percent(token), as_number(token)
    if percent is not None and token is not None:
        tokens.next()
        if sign == 0 and token[0] not in "+-":
            factor = percent / 100  # with no direction given, "brightness 130%" is a level
        else:
            factor = 1 + (sign * abs(percent) if sign else percent) / 100
    elif number is not None and token is not None:
        tokens.next()
        factor = 1 + number if token[0] in "+-" else number  # "+0.3" is a change, "1.3" a factor
    elif sign:
        factor = 1 + sign * default_change
    else:
        raise tokens.error("needs an amount")
    tokens.finish()
    return tokens.check(factor, 0, 10, "the factor")


def _enhance(name: str, default_change: float = 0.2) -> Parser:
    def parse(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
        return name, (_factor(tokens, sign, default_change),)

    return parse


def _blur(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    tokens.skip("radius", "gaussian", "of")
    radius = tokens.read(as_pixels)
    tokens.finish()
    return "blur", (tokens.check(2.0 if radius is None else radius, 0, 100, "the blur radius"),)


def _rotate(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    direction = tokens.take(*_CLOCKWISE, *_COUNTER)
    degrees = tokens.read(as_number)
    tokens.skip("degrees", "degree", "deg")
    direction = tokens.take(*_CLOCKWISE, *_COUNTER) or direction
    tokens.finish()
    if degrees is None and direction is None:
        raise tokens.error("needs an angle")
    degrees = tokens.check(90.0 if degrees is None else degrees, -360, 360, "the angle (degrees)")
    return "rotate", ((-degrees if direction in _CLOCKWISE else degrees) % 360,)


def _flip(default: str) -> Parser:
    def parse(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
        name = default
        while word := tokens.take(*_VERTICAL, *_HORIZONTAL):
            name = "mirror" if word in _HORIZONTAL else "flip"
        tokens.skip("image")
        tokens.finish()
        return name, ()

    return parse


def _crop(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    tokens.skip("center", "centre", "middle", "central")
    words = tokens.words[tokens.pos :]
    if len(words) == 4 and all(as_number(word) is not None for word in words):
        box = [tokens.whole(as_number(tokens.next()) or 0, 0, MAX_SIDE, "box edges") for _ in range(4)]
        return "crop", ("box", *box)
    return "crop", _size_or_percent(tokens)


def _random_crop(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    return "random_crop", _size_or_percent(tokens)


def _size_or_percent(tokens: Tokens) -> tuple[Any, ...]:
    size = tokens.size()
    percent = None if size is not None else tokens.read(as_percent)
    tokens.finish()
    if size is not None:
        return ("size", *size)
    if percent is None:
        raise tokens.error("needs a size or a percent")
    return ("percent", tokens.check(percent, 0.01, 100, "the percent"))


def _scale_factor(tokens: Tokens) -> float | None:
    percent = tokens.read(as_percent)
    if percent is not None:
        return tokens.check(percent, 1, 1000, "the percent")
    factor = tokens.read(as_number)
    if factor is not None:
        tokens.skip("x", "times")
        return tokens.check(factor, 0.01, 10, "the factor") * 100
    return None


def _resize(name: str) -> Parser:
    def parse(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
        tokens.skip("inside", "within", "in", "box")
        size = tokens.size()
        percent = _scale_factor(tokens) if size is None and name != "fit" else None
        tokens.finish()
        if size is not None:
            return ("fit" if name == "fit" else "resize"), size
        if percent is None:
            raise tokens.error("needs a size" if name == "fit" else "needs a size or a percent")
        return "scale", (percent / 100,)

    return parse


def _pad(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    amount: Any = None
    unit, sides = "px", set[str]()
    fill: tuple[int, int, int, int] | str = _WHITE
    while (word := tokens.next()) is not None:
        if word in _PAD_FILLERS:
            continue
        if word in _SIDES:
            sides.update(_SIDES[word])
        elif word in _FILL_MODES:
            fill = _FILL_MODES[word]
        elif as_size(word) is not None:
            amount, unit = as_size(word), "to"
        elif as_percent(word) is not None:
            amount, unit = tokens.check(as_percent(word) or 0, 0, 200, "the percent"), "%"
        elif as_pixels(word) is not None:
            amount, unit = tokens.whole(as_pixels(word) or 0, 0, MAX_SIDE, "the padding (px)"), "px"
        elif (color := as_color(word)) is not None:
            fill = color
        else:
            raise tokens.error(f"could not read {quote(word)}")
    if amount is None:
        raise tokens.error("needs an amount")
    chosen = tuple(side for side in ("left", "top", "right", "bottom") if side in sides or not sides)
    return "pad", (unit, amount, chosen, fill)


def _posterize(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    value = tokens.read(as_number)
    if value is None:
        raise tokens.error("needs a number of bits")
    if tokens.take("levels", "level", "colors", "colours", "shades"):
        if value < 2 or math.log2(value) != int(math.log2(value)):
            raise tokens.error(f"levels must be a power of two from 2 to 256, got {value:g}")
        value = math.log2(value)
    tokens.skip("bits", "bit")
    tokens.finish()
    return "posterize", (tokens.whole(value, 1, 8, "bits"),)


def _noise(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    tokens.skip("gaussian", "random", "sigma", "of")
    percent = tokens.read(as_percent)
    sigma = percent * 2.55 if percent is not None else tokens.read(as_number)
    tokens.finish()
    return "noise", (tokens.check(10.0 if sigma is None else sigma, 0, 100, "the noise sigma"),)


def _jitter(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    percent = tokens.read(as_percent)
    amount = percent / 100 if percent is not None else tokens.read(as_number)
    tokens.finish()
    return "jitter", (tokens.check(0.2 if amount is None else amount, 0, 1, "the jitter amount"),)


def _inpaint(tokens: Tokens, sign: int) -> tuple[str, tuple[Any, ...]]:
    tokens.skip("object", "objects", "area", "region", "masked", "mask", "selection", "selected", "radius")
    radius = tokens.read(as_pixels)
    tokens.finish()
    return "inpaint", (tokens.check(3.0 if radius is None else radius, 1, 50, "the inpaint radius"),)


PARSERS: dict[str, Parser] = {
    "grayscale": _no_args("grayscale"),
    "sepia": _no_args("sepia"),
    "invert": _no_args("invert", "colors", "colours", "color", "colour"),
    "blur": _blur,
    "sharpen": _enhance("sharpen", default_change=1.0),
    "brightness": _enhance("brightness"),
    "contrast": _enhance("contrast"),
    "saturation": _enhance("saturation"),
    "rotate": _rotate,
    "flip": _flip("flip"),
    "mirror": _flip("mirror"),
    "crop": _crop,
    "random_crop": _random_crop,
    "resize": _resize("resize"),
    "fit": _resize("fit"),
    "scale": _resize("scale"),
    "pad": _pad,
    "posterize": _posterize,
    "noise": _noise,
    "jitter": _jitter,
    "inpaint": _inpaint,
}
