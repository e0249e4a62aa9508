"""The starter config: commented YAML with the column mapping, a local variant to run, remote ones to uncomment."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tasks.starter.mapping import ColumnGuess

__all__ = ["REMOTE_PROVIDERS", "Starter", "render_config"]

# Each remote provider: its key's environment variable and a variant that passes `retouch validate`.
REMOTE_PROVIDERS: dict[str, tuple[str, list[str]]] = {
    "picsart.edit": ("PICSART_API_KEY", ['prompt: "{prompt}"', "params: {format: PNG}"]),
    "picsart.outpaint": ("PICSART_API_KEY", ['prompt: "{prompt}"', "params: {format: JPG}"]),
    "pixapi.edits": ("PIXAPI_KEY", ["model: gemini-2.5-flash-image", 'prompt: "{prompt}"']),
    "fashn.edit": ("FASHN_API_KEY", ['prompt: "{prompt}"', "params: {resolution: 1k, output_format: png}"]),
}


@dataclass(frozen=True)
class Starter:
    """What the config describes.

    Attributes:
        source: what `retouch init` was given (named in the header).
        config_path: where the config goes (named in the commands of the header).
        catalog_uri / rows / written: the catalog, its row count, and whether init wrote it.
        columns: the guessed mapping.
        local_prompt: the local variant's prompt template (`{prompt}` when the catalog's prompts are
            local instructions, else a fixed instruction).
        output_uri: where runs write.
        allow: folders outside the catalog's folder that its image paths point into (the source policy
            reads only the catalog's folder unless told).
    """

    source: str
    config_path: str
    catalog_uri: str
    rows: int
    written: bool
    columns: ColumnGuess
    local_prompt: str
    output_uri: str
    allow: tuple[str, ...] = ()


def render_config(starter: Starter) -> str:
    """The YAML text of the starter config."""
    return "\n".join([*_header(starter), *_catalog(starter), *_edits(starter), *_providers(), *_output(starter)]) + "\n"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML scalar, quoted safely


def _header(starter: Starter) -> list[str]:
    return [
        f"# retouch starter config, written by `retouch init {starter.source}`.",
        f"# Check it:  retouch validate {starter.config_path}",
        f"# Run it:    retouch run {starter.config_path}    (the `preview` variant runs locally: free, no key)",
        "# Relative paths here are relative to the folder you run retouch from.",
        "",
    ]


def _catalog(starter: Starter) -> list[str]:
    columns, reasons = starter.columns, starter.columns.reasons
    made = "written by retouch init" if starter.written else "your catalog, used as it is"
    lines = [
        "catalog:",
        f"  uri: {_q(starter.catalog_uri)}    # {starter.rows} rows; {made}",
        "  columns:    # which column plays which role (edit these if a guess is wrong)",
        f"    id: {_q(columns.id)}    # {reasons.get('id', '')}",
        f"    image: {_q(columns.image)}    # {reasons.get('image', '')}",
        f"    prompt: {_q(columns.prompt or 'prompt')}    # {reasons.get('prompt', '')}",
    ]
    if starter.allow:
        lines += [
            "  sources:    # images are read only from the catalog's folder and what is allowed here",
            f"    allow: [{', '.join(_q(folder) for folder in starter.allow)}]    # where your images are",
        ]
    if columns.mask:
        lines.append(f"    # mask: {_q(columns.mask)}    # {reasons['mask']}; uncomment to send it with every edit")
    return [*lines, ""]


def _edits(starter: Starter) -> list[str]:
    reads = starter.local_prompt == "{prompt}"
    note = (
        "The catalog's prompts are local instructions (the README lists the words the engine reads)."
        if reads
        else "The catalog's prompts are for AI providers; this local preview applies a fixed edit instead."
    )
    lines = [
        "edits:",
        "  # Runs in-process with Pillow/OpenCV: free, no key, no network.",
        f"  # {note}",
        "  - name: preview",
        "    provider: local",
        f"    prompt: {_q(starter.local_prompt)}",
        "    seeds: [0]",
        "",
        "  # Remote providers: uncomment a variant here and its provider under `providers:`, then set",
        "  # the key's environment variable (retouch validate says which is missing).",
    ]
    for provider, (_, settings) in REMOTE_PROVIDERS.items():
        lines.append(f"  # - name: {provider.replace('.', '-')}")
        lines.append(f"  #   provider: {provider}")
        lines.extend(f"  #   {setting}" for setting in settings)
    return [*lines, ""]


def _providers() -> list[str]:
    lines = ["providers:", "  local: {}"]
    for provider, (env, _) in REMOTE_PROVIDERS.items():
        lines.append(f"  # {provider}:")
        lines.append(f"  #   api_key_env: {env}    # Set it first: export {env}=<your key>")
    return [*lines, ""]


def _output(starter: Starter) -> list[str]:
    return [
        "output:",
        f"  uri: {_q(starter.output_uri)}    # images/, results/, runs/ and reports/ go here",
        "",
        "# Caps for one run (a run whose forecast passes one stops before anything is sent):",
        "# budget:",
        "#   max_money: 10",
    ]
