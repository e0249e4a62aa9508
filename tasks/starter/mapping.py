"""Guess which catalog column plays which role (id, image, prompt, mask) from names, types and values."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from tasks.core.errors import CatalogError

__all__ = ["ColumnGuess", "guess_columns", "looks_like_image"]

# Words that name each role, strongest first; a column name is split into words (snake, kebab, camel, spaces).
_WORDS: dict[str, tuple[str, ...]] = {
    "mask": ("mask",),
    "image": ("image", "img", "path", "url", "file", "filename", "src", "source", "photo", "picture", "uri"),
    "id": ("id", "sku", "key", "uid", "uuid", "code", "ref", "name"),
    "prompt": ("prompt", "instruction", "instructions", "caption", "edit", "text", "description"),
}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_IMAGE_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://", "memory://", "file://")
_LIKE = 0.8  # the share of a sample's values that must look right
_PROMPT_WORDS = 3  # without a telling name, a prompt column is text of at least this many words on average
_HOW = {
    "id": "unique values",
    "image": "values that look like image paths or URLs",
    "prompt": "its text",
    "mask": "values that look like image paths",
}


@dataclass(frozen=True)
class ColumnGuess:
    """The guessed mapping, and for each role the reason it was chosen (written into the config as a comment)."""

    id: str
    image: str
    prompt: str | None
    mask: str | None
    reasons: dict[str, str]


def looks_like_image(value: object) -> bool:
    """Whether a catalog cell looks like an image reference: bytes, a data: URI, a URL or an image file name."""
    if isinstance(value, (bytes, bytearray)):
        return True
    text = str(value).strip().lower().split("?", 1)[0]
    return text.startswith("data:image/") or text.endswith(_IMAGE_SUFFIXES) or text.startswith(_IMAGE_SCHEMES)


def guess_columns(
    sample: pl.DataFrame, *, id: str | None = None, image: str | None = None, prompt: str | None = None
) -> ColumnGuess:
    """Guess the roles from a sample of the catalog; columns given by the caller are taken as they are.

    Args:
        sample: the catalog's first rows (a thousand is plenty).
        id / image / prompt: columns the user named; they are checked to exist.

    Raises:
        CatalogError: a named column is missing, or no column can serve as id or image; the message
            lists the columns and the option that names one.
    """
    given = {"image": image, "id": id, "prompt": prompt}
    for role, column in given.items():
        if column is not None and column not in sample.columns:
            raise CatalogError(f"--{role}-column {column!r} is not a column; columns: {', '.join(sample.columns)}")
    chosen: dict[str, str | None] = {role: column for role, column in given.items() if column is not None}
    reasons = dict.fromkeys(chosen, "given")
    # Names first, for every role; then values, for the roles no name told.
    for finder, how in ((_by_name, "its name and "), (_by_values, "")):
        for role in ("mask", "image", "id", "prompt"):
            if chosen.get(role) is None:
                chosen[role] = finder(sample, role, {c for c in chosen.values() if c})
                if chosen[role] is not None:
                    reasons[role] = f"guessed from {how}{_HOW[role]}"
    for role in ("id", "image"):
        if chosen[role] is None:
            raise CatalogError(
                f"no column looks like the {role} column; columns: {', '.join(sample.columns)}. "
                f"Name it with --{role}-column."
            )
    return ColumnGuess(
        id=str(chosen["id"]),
        image=str(chosen["image"]),
        prompt=chosen.get("prompt"),
        mask=chosen.get("mask"),
        reasons=reasons,
    )


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [word.lower() for word in re.split(r"[^A-Za-z0-9]+", spaced) if word]


def _by_name(sample: pl.DataFrame, role: str, taken: set[str]) -> str | None:
    """The column whose name holds the role's strongest word, if its values fit the role."""
    ranked = []
    for column in sample.columns:
        if column in taken:
            continue
        words = _words(column)
        ranks = [_WORDS[role].index(word) for word in words if word in _WORDS[role]]
        if ranks and _fits(sample, role, column):
            exact = words == [_WORDS[role][min(ranks)]]
            ranked.append((min(ranks), not exact, sample.columns.index(column), column))
    return min(ranked)[-1] if ranked else None


def _by_values(sample: pl.DataFrame, role: str, taken: set[str]) -> str | None:
    """Without a telling name: the first column whose values fit (for prompts, the wordiest text)."""
    free = [column for column in sample.columns if column not in taken and _fits(sample, role, column)]
    if role == "prompt":
        wordy = [(_mean_words(sample[column]), column) for column in free]
        wordy = [item for item in wordy if item[0] >= _PROMPT_WORDS]
        return max(wordy)[1] if wordy else None
    if role == "id":  # ids by value: no spaces, so free text with unique values is not taken for one
        free = [column for column in free if not sample[column].cast(pl.String).str.contains(" ").any()]
    return free[0] if free and role != "mask" else None


def _fits(sample: pl.DataFrame, role: str, column: str) -> bool:
    series = sample[column]
    values = series.drop_nulls()
    if role in ("image", "mask"):
        if series.dtype == pl.Binary:
            return True
        return values.len() > 0 and _share(values, looks_like_image) >= _LIKE
    if role == "id":
        return (
            (series.dtype.is_integer() or series.dtype == pl.String)
            and values.len() == series.len()
            and (values.n_unique() == values.len())
        )
    return series.dtype == pl.String and values.len() > 0 and _share(values, lambda v: not looks_like_image(v)) >= _LIKE


def _share(values: pl.Series, check: Callable[[object], bool]) -> float:
    items = values.to_list()
    return sum(1 for value in items if check(value)) / len(items)


def _mean_words(series: pl.Series) -> float:
    values = series.drop_nulls().cast(pl.String).to_list()
    return sum(len(value.split()) for value in values) / len(values) if values else 0.0
