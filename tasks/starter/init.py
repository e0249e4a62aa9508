"""`retouch init`: from a folder of images or a table to a catalog and a starter config that validates."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tasks.core.errors import ConfigError, InstructionError
from tasks.imaging import parse_instructions
from tasks.starter.folder import folder_catalog, list_images
from tasks.starter.mapping import ColumnGuess, guess_columns
from tasks.starter.prompts import DEFAULT_PROMPT, prompts_for
from tasks.starter.tables import is_table, read_sample, read_table
from tasks.starter.template import Starter, render_config

__all__ = ["CATALOG_NAME", "CONFIG_NAME", "InitRequest", "InitResult", "init_project"]

CATALOG_NAME = "catalog.parquet"
CONFIG_NAME = "retouch.yaml"
OUTPUT_NAME = "out"
_CHECKED_PROMPTS = 200  # prompts parsed to decide whether the local variant can use the catalog's own


@dataclass(frozen=True)
class InitRequest:
    """What `retouch init` was asked.

    Attributes:
        source: a folder of images, or a .parquet/.csv/.jsonl catalog (local path or fsspec URL).
        out: the folder the catalog (where one is written), the config and the output go in.
        prompts_file: for a folder: a CSV/JSONL mapping file names to prompts.
        prompt: one prompt for every image (or for those the prompts file does not list).
        columns: columns named by the user, by role (id, image, prompt).
        storage_options: fsspec options for reading `source`.
        force: replace an existing config and catalog in `out`.
    """

    source: str
    out: str = "."
    prompts_file: str | None = None
    prompt: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    storage_options: dict[str, Any] = field(default_factory=dict)
    force: bool = False


@dataclass(frozen=True)
class InitResult:
    """What was written, and notes the user should read."""

    config_path: str
    catalog_uri: str
    catalog_written: bool
    rows: int
    columns: ColumnGuess
    notes: list[str]


def init_project(request: InitRequest) -> InitResult:
    """Write the catalog (for a folder, a CSV or a JSONL source) and the starter config into `request.out`.

    Raises:
        ConfigError: the config or catalog exists in `out` and `force` is not set.
        CatalogError: the source cannot be read, has no usable id or image column, or the prompts
            file leaves images without a prompt.
    """
    config_path = os.path.join(request.out, CONFIG_NAME)
    catalog_path = os.path.join(request.out, CATALOG_NAME)
    _refuse_overwrite([config_path, catalog_path], force=request.force)
    if is_table(request.source):
        frame, rows, guess, written, notes = _from_table(request, catalog_path)
    else:
        frame, rows, guess, written, notes = _from_folder(request, catalog_path)
    catalog_uri = catalog_path if written else request.source
    starter = Starter(
        source=request.source,
        config_path=config_path,
        catalog_uri=catalog_uri,
        rows=rows,
        written=written,
        columns=guess,
        local_prompt=_local_prompt(frame, guess),
        output_uri=os.path.join(request.out, OUTPUT_NAME),
        allow=_outside(request, written),
    )
    os.makedirs(request.out, exist_ok=True)
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write(render_config(starter))
    return InitResult(config_path, catalog_uri, written, rows, guess, notes)


def _outside(request: InitRequest, written: bool) -> tuple[str, ...]:
    """The images' folder when the written catalog points out of its own folder into it (else nothing)."""
    if not written or "://" in request.source:
        return ()
    source = os.path.abspath(request.source)
    folder = os.path.dirname(source) if is_table(request.source) else source
    out = os.path.abspath(request.out)
    inside = os.path.commonpath([folder, out]) == out
    return () if inside else (folder.rstrip(os.sep) + os.sep,)


def _refuse_overwrite(paths: list[str], *, force: bool) -> None:
    existing = [path for path in paths if os.path.exists(path)]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)} already exist(s); pass --force to replace, or choose another --out")


_Made = tuple[pl.DataFrame, int, ColumnGuess, bool, list[str]]


def _from_folder(request: InitRequest, catalog_path: str) -> _Made:
    files = list_images(request.source, request.out, request.storage_options)
    prompts, notes = prompts_for(
        files, prompts_file=request.prompts_file, prompt=request.prompt, storage_options=request.storage_options
    )
    frame = folder_catalog(files, prompts)
    _write_parquet(frame, catalog_path)
    reasons = {
        "id": "the file's name in the folder, without its extension",
        "image": "the file, relative to the catalog's folder",
        "prompt": f"from {request.prompts_file}" if request.prompts_file else "one prompt for every image",
    }
    return frame, frame.height, ColumnGuess("id", "image", "prompt", None, reasons), True, notes


def _from_table(request: InitRequest, catalog_path: str) -> _Made:
    sample, rows = read_sample(request.source, request.storage_options)
    guess = guess_columns(sample, **request.columns)
    notes: list[str] = []
    if guess.prompt is None and request.prompt is None:
        raise ConfigError(
            f"{request.source}: no column looks like the prompt; name it with --prompt-column, "
            "or give one prompt for every row with --prompt"
        )
    is_parquet = request.source.lower().endswith((".parquet", ".pq"))
    if is_parquet and guess.prompt is not None:
        return sample, rows, guess, False, notes  # a Parquet catalog is used where it is
    frame = read_table(request.source, request.storage_options)
    if guess.prompt is None:
        frame = frame.with_columns(pl.lit(request.prompt).alias("prompt"))
        guess = ColumnGuess(guess.id, guess.image, "prompt", guess.mask, {**guess.reasons, "prompt": "--prompt"})
        notes.append(f"every row gets the prompt {request.prompt!r} (column `prompt` added)")
    frame = _rebase(frame, [c for c in (guess.image, guess.mask) if c], request.source, request.out)
    _write_parquet(frame, catalog_path)
    return frame.head(_CHECKED_PROMPTS), frame.height, guess, True, notes


def _rebase(frame: pl.DataFrame, columns: list[str], source: str, out: str) -> pl.DataFrame:
    """Relative image paths were relative to the source table's folder; the catalog now lives in `out`."""
    base = posixpath.dirname(source) if "://" in source else os.path.dirname(os.path.abspath(source))

    def moved(value: Any) -> Any:
        if not isinstance(value, str) or not value or "://" in value or value.startswith(("data:", "/")):
            return value
        if "://" in source:
            return f"{base}/{value}"
        return os.path.relpath(os.path.join(base, value), os.path.abspath(out)).replace(os.sep, "/")

    return frame.with_columns(
        pl.col(column).map_elements(moved, return_dtype=pl.String)
        for column in columns
        if frame.schema[column] == pl.String
    )


def _local_prompt(frame: pl.DataFrame, guess: ColumnGuess) -> str:
    """`{prompt}` when the catalog's prompts are local instructions, else a fixed local edit."""
    if guess.prompt is None or guess.prompt not in frame.columns:
        return DEFAULT_PROMPT
    prompts = frame.get_column(guess.prompt).drop_nulls().cast(pl.String).head(_CHECKED_PROMPTS).to_list()
    try:
        for prompt in prompts:
            parse_instructions(prompt)
    except InstructionError:
        return DEFAULT_PROMPT
    return "{prompt}" if prompts else DEFAULT_PROMPT


def _write_parquet(frame: pl.DataFrame, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    frame.write_parquet(path)
