"""Prompts for a folder of images: a CSV/JSONL file mapping file names to prompts, and/or one prompt for all."""

from __future__ import annotations

import posixpath
from typing import Any

import polars as pl

from tasks.core.errors import CatalogError
from tasks.starter.folder import ImageFile
from tasks.starter.mapping import guess_columns
from tasks.starter.tables import read_table

__all__ = ["DEFAULT_PROMPT", "prompts_for"]

# A prompt the local engine reads, visible on any photo: what a folder gets when no prompt was given.
DEFAULT_PROMPT = "contrast +20%, then sharpen"
_SHOWN = 5


def prompts_for(
    files: list[ImageFile],
    *,
    prompts_file: str | None,
    prompt: str | None,
    storage_options: dict[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """Each file's prompt: from the prompts file (matched by relative name, then file name, then stem),
    else `prompt`, else DEFAULT_PROMPT when neither was given.

    Returns:
        The prompts in the order of `files`, and notes for the user.

    Raises:
        CatalogError: the prompts file cannot be read or mapped, or it misses files and no `prompt`
            covers the rest; the message names the first few.
    """
    if prompts_file is None:
        note = [] if prompt else [f"no prompts given: every image gets {DEFAULT_PROMPT!r} (--prompt or --prompts)"]
        return [prompt or DEFAULT_PROMPT] * len(files), note
    table = _prompt_table(prompts_file, storage_options)
    found = [_lookup(table, item.relative) for item in files]
    missing = [item.relative for item, value in zip(files, found, strict=True) if value is None]
    if missing and prompt is None:
        shown = ", ".join(missing[:_SHOWN]) + (f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else "")
        raise CatalogError(
            f"{prompts_file} has no prompt for {len(missing)} image(s): {shown}; add them, "
            "or give --prompt for the rest"
        )
    notes = [f"{len(missing)} image(s) not in {prompts_file} get {prompt!r}"] if missing else []
    return [value if value is not None else str(prompt) for value in found], notes


def _prompt_table(uri: str, storage_options: dict[str, Any] | None) -> dict[str, str]:
    frame = read_table(uri, storage_options)
    names = [c for c in frame.columns if c.lower() in ("file", "filename", "file_name", "name", "path", "image")]
    if not names:
        raise CatalogError(
            f"{uri}: no file-name column (file, filename, name, path or image); columns: {frame.columns}"
        )
    guess = guess_columns(frame.with_columns(pl.col(names[0]).cast(pl.String)), image=names[0], id=names[0])
    if guess.prompt is None:
        raise CatalogError(f"{uri}: no prompt column (prompt, instruction, caption, …); columns: {frame.columns}")
    pairs = frame.select(pl.col(names[0]).cast(pl.String), pl.col(guess.prompt).cast(pl.String)).drop_nulls()
    table: dict[str, str] = {}
    for name, text in pairs.iter_rows():
        for key in _keys(str(name).strip().removeprefix("./")):
            table.setdefault(key, str(text))
    return table


def _keys(relative: str) -> tuple[str, ...]:
    """The names a file may be listed by: relative path, file name, and each without its extension."""
    base = posixpath.basename(relative)
    return (relative, posixpath.splitext(relative)[0], base, posixpath.splitext(base)[0])


def _lookup(table: dict[str, str], relative: str) -> str | None:
    return next((table[key] for key in _keys(relative) if key in table), None)
