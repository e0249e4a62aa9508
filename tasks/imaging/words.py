"""The vocabulary of the edit language: operation words, filler words and how each step is written."""

from __future__ import annotations

__all__ = ["FILLERS", "KNOWN_WORDS", "MODIFIERS", "PHRASES", "USAGE"]

#: Words dropped anywhere in a step, so "please make the image grayscale" reads as "grayscale".
FILLERS = frozenset({
    "please", "kindly", "apply", "make", "it", "its", "it's", "this", "the", "a", "an", "by", "to", "with",
    "of", "image", "photo", "picture", "pic", "add", "some", "turn", "convert", "into", "give", "effect",
    "filter", "tone", "look", "on", "and", "just", "now", "also", "slightly", "using", "for",
})  # fmt: skip

#: Words that give an amount its direction: "increase the contrast by 20%", "less saturation".
MODIFIERS = {
    **dict.fromkeys(("increase", "raise", "boost", "more", "higher", "up"), 1),
    **dict.fromkeys(("decrease", "reduce", "lower", "less", "down"), -1),
}

#: Operation phrase (as tokens) -> (operation, direction it implies: +1 more, -1 less, 0 none).
PHRASES: dict[tuple[str, ...], tuple[str, int]] = {
    **{(word,): ("grayscale", 0) for word in ("grayscale", "greyscale", "monochrome", "black-and-white")},
    ("black", "and", "white"): ("grayscale", 0),
    ("black", "white"): ("grayscale", 0),  # "black & white": the tokenizer drops the "&"
    ("sepia",): ("sepia", 0),
    ("invert",): ("invert", 0),
    ("blur",): ("blur", 0),
    ("gaussian", "blur"): ("blur", 0),
    ("sharpen",): ("sharpen", 1),
    ("sharpness",): ("sharpen", 0),
    ("brightness",): ("brightness", 0),
    **{(word,): ("brightness", 1) for word in ("brighten", "brighter", "lighten", "lighter")},
    **{(word,): ("brightness", -1) for word in ("darken", "darker")},
    ("contrast",): ("contrast", 0),
    ("saturation",): ("saturation", 0),
    ("rotate",): ("rotate", 0),
    ("flip",): ("flip", 0),
    ("vertical", "flip"): ("flip", 0),
    ("mirror",): ("mirror", 0),
    ("horizontal", "flip"): ("mirror", 0),
    ("crop",): ("crop", 0),
    ("center", "crop"): ("crop", 0),
    ("centre", "crop"): ("crop", 0),
    ("random", "crop"): ("random_crop", 0),
    ("resize",): ("resize", 0),
    ("fit",): ("fit", 0),
    ("scale",): ("scale", 0),
    **{(word,): ("pad", 0) for word in ("pad", "extend", "outpaint", "expand", "border")},
    ("posterize",): ("posterize", 0),
    ("posterise",): ("posterize", 0),
    ("noise",): ("noise", 0),
    ("gaussian", "noise"): ("noise", 0),
    ("jitter",): ("jitter", 0),
    ("color", "jitter"): ("jitter", 0),
    ("colour", "jitter"): ("jitter", 0),
    **{("random", word): ("jitter", 0) for word in ("color", "colour", "colors", "colours")},
    **{(word,): ("inpaint", 0) for word in ("inpaint", "remove", "erase")},
}

#: The op words the language knows, for error messages and docs.
KNOWN_WORDS: tuple[str, ...] = tuple(
    sorted(
        {" ".join(phrase) for phrase in PHRASES}
        # Spelling variants stay readable but would only lengthen every error message.
        - {"black white", "black-and-white", "centre crop", "colour jitter", "posterise"}
        - {"random colors", "random colour", "random colours"}
    )
)

#: How each operation is written; quoted in errors and in the README.
USAGE = {
    "grayscale": "grayscale (or greyscale, monochrome, black and white)",
    "sepia": "sepia",
    "invert": "invert [colors]",
    "blur": "blur [radius in px, 0 to 100, default 2]",
    "sharpen": "sharpen [factor 0 to 10, or a change like +50%; default 2]",
    "brightness": "brightness <amount> | brighten/darken [amount]; amount: factor 0 to 10 (1.3), "
    "change (+30%, -20%, 'increase ... by 30%') or level (130%)",
    "contrast": "contrast <amount>; amount: factor 0 to 10 (1.3), change (+30%, -20%) or level (130%)",
    "saturation": "saturation <amount>; amount: factor 0 to 10 (1.3), change (+30%, -20%) or level (130%)",
    "rotate": "rotate <degrees, -360 to 360> [clockwise|counterclockwise] | rotate left/right",
    "flip": "flip [vertically|horizontally]",
    "mirror": "mirror | flip horizontally",
    "crop": "crop [center] <W>x<H> | crop <left>,<top>,<right>,<bottom> | crop <percent 0 to 100>%",
    "random_crop": "random crop <W>x<H> | random crop <percent>%",
    "resize": "resize <W>x<H> | resize <percent>%",
    "fit": "fit <W>x<H>",
    "scale": "scale <percent 1 to 1000>% | scale <factor 0.01 to 10>[x]",
    "pad": "pad|extend|outpaint|border <N>px|<percent>%|to <W>x<H> [left|right|top|bottom|horizontally|"
    "vertically] [color name|#rrggbb|transparent|edge|mirror|blur]",
    "posterize": "posterize <bits, 1 to 8> | posterize <levels: 2, 4, ... 256> levels",
    "noise": "noise [sigma 0 to 100, or percent of full scale; default 10]",
    "jitter": "jitter [amount 0 to 1 or percent; default 0.2] (or random color)",
    "inpaint": "inpaint|remove|erase [radius in px, 1 to 50, default 3] (needs a mask)",
}
