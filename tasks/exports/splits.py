"""Seeded dataset splits by row id, so every variant of one catalog row lands in the same split."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from tasks.core.errors import ConfigError

__all__ = ["Split", "parse_splits", "split_of"]

# Hugging Face split names: word characters, dot-separated.
_NAME = re.compile(r"^\w+(\.\w+)*$")
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Split:
    """One named split and the fraction of rows it takes."""

    name: str
    fraction: float


def parse_splits(text: str | None) -> tuple[Split, ...]:
    """Read `train=0.9,test=0.1`; None or empty means one split, `train`, holding everything.

    Raises:
        ConfigError: a part is not `name=fraction`, a name repeats or is not a word, a fraction is not
            in (0, 1], or the fractions do not add up to 1.
    """
    if not text:
        return (Split("train", 1.0),)
    splits = [_one(part.strip(), text) for part in text.split(",") if part.strip()]
    names = [split.name for split in splits]
    if len(set(names)) != len(names):
        raise ConfigError(f"--split {text!r}: a split name repeats; give each once")
    total = sum(split.fraction for split in splits)
    if abs(total - 1.0) > _TOLERANCE:
        raise ConfigError(f"--split {text!r}: the fractions add up to {total:g}, not 1")
    return tuple(splits)


def _one(part: str, text: str) -> Split:
    name, sep, value = part.partition("=")
    name = name.strip()
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not sep or not _NAME.match(name) or not 0 < fraction <= 1:
        raise ConfigError(
            f"--split {text!r}: {part!r} is not name=fraction (a word and a number in (0, 1]), "
            "e.g. --split train=0.9,test=0.1"
        )
    return Split(name, fraction)


def split_of(row_id: str, seed: int, splits: tuple[Split, ...]) -> int:
    """The index of the split `row_id` belongs to: a seeded hash, uniform in [0, 1), cut by the fractions."""
    if len(splits) == 1:
        return 0
    digest = hashlib.blake2b(f"{seed}\x1f{row_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2**64
    edge = 0.0
    for index, split in enumerate(splits):
        edge += split.fraction
        if point < edge:
            return index
    return len(splits) - 1  # the fractions' rounding left a sliver at the top
