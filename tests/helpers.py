"""Builders shared by tests: small real images, catalogs and configs written to real files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from PIL import Image, ImageDraw


def make_png(path: Path | None = None, size: tuple[int, int] = (48, 32), seed: int = 0) -> bytes:
    """A small colourful PNG (distinct channels, so grayscale is detectable); written to `path` if given."""
    image = Image.new("RGB", size, (200 - seed * 10 % 100, 80, 40 + seed * 17 % 150))
    draw = ImageDraw.Draw(image)
    draw.rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(20, 160, 220))
    draw.point((0, 0), fill=(255, 0, 0))  # a marked top-left corner
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return data


def make_catalog(
    directory: Path, rows: int = 4, *, prompts: list[str] | None = None, **extra_columns: list[Any]
) -> Path:
    """A catalog.parquet with columns sku, src (relative paths), instruction, title, plus extras."""
    records = []
    for index in range(rows):
        name = f"images/item-{index}.png"
        make_png(directory / name, seed=index)
        records.append(
            {
                "sku": f"S{index}",
                "src": name,
                "instruction": (prompts or ["brightness 1.2"])[index % len(prompts or ["x"])],
                "title": f"item {index}",
            }
        )
    frame = pl.DataFrame(records)
    for column, values in extra_columns.items():
        frame = frame.with_columns(pl.Series(column, values))
    path = directory / "catalog.parquet"
    frame.write_parquet(path)
    return path


def write_config(directory: Path, config: dict[str, Any], name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def local_config(
    catalog: Path, output: Path, edits: list[dict[str, Any]] | None = None, **sections: Any
) -> dict[str, Any]:
    """A config dict running local edits on `catalog` into `output`."""
    return {
        "catalog": {"uri": str(catalog), "columns": {"id": "sku", "image": "src", "prompt": "instruction"}},
        "edits": edits
        or [
            {"name": "as_written", "provider": "local", "seeds": [1, 2]},
            {"name": "mono", "provider": "local", "prompt": "grayscale", "seeds": [1]},
        ],
        "output": {"uri": str(output)},
        **sections,
    }


def decode(path_or_bytes: str | bytes) -> Image.Image:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
