"""Shared benchmark helpers: synthetic catalogs of small images, peak RSS, a quiet Prefect setup."""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

# Benchmarks run as scripts from the repo root; make `tasks` and `flows` importable without an install.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="retouch-bench-prefect-"))

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def small_png(index: int, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256))
    ImageDraw.Draw(image).ellipse((8, 8, size[0] - 8, size[1] - 8), fill=(240, 200, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_catalog(directory: Path, rows: int, *, distinct_images: int = 50, prompt: str = "sepia, then blur 1") -> Path:
    """A catalog of `rows` rows pointing at `distinct_images` small PNG files on disk."""
    images = directory / "images"
    images.mkdir(parents=True, exist_ok=True)
    for index in range(distinct_images):
        (images / f"{index}.png").write_bytes(small_png(index))
    frame = pl.DataFrame({
        "id": [f"r{i}" for i in range(rows)],
        "image": [f"images/{i % distinct_images}.png" for i in range(rows)],
        "prompt": [prompt] * rows,
    })
    path = directory / "catalog.parquet"
    frame.write_parquet(path)
    return path


def write_yaml(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
