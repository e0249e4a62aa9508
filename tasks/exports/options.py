"""What an export writes: its format, which results rows it takes, how it shards and splits them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from tasks.core.errors import ConfigError
from tasks.exports.splits import Split

__all__ = ["FORMATS", "STATUSES", "ExportFormat", "ExportOptions"]

ExportFormat = Literal["hf", "webdataset", "parquet"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
STATUSES = ("succeeded", "failed", "skipped", "unknown")


@dataclass(frozen=True)
class ExportOptions:
    """The choices of one export.

    Attributes:
        format: `hf` (Hugging Face Parquet + dataset card), `webdataset` (tar shards) or `parquet`.
        variants: export only these variants; empty means all.
        statuses: export only rows with these statuses (rows without an output have no edited image).
        shard_size: rows per shard file.
        shard_bytes: image bytes per shard file before a new one starts (HF advises shards under ~500 MB).
        splits: named fractions, assigned by a seeded hash of the row id.
        seed: the split assignment's seed.
        batch_size: rows read, loaded and written at a time: memory holds one batch of images.
        concurrency: image reads in flight within a batch.
        overwrite: replace the files of an earlier export at the destination.
    """

    format: ExportFormat
    splits: tuple[Split, ...] = (Split("train", 1.0),)
    variants: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("succeeded",)
    shard_size: int = 1000
    shard_bytes: int = 512 * 1024 * 1024
    seed: int = 0
    batch_size: int = 128
    concurrency: int = 16
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"--format {self.format!r} is not one of {', '.join(FORMATS)}")
        unknown = sorted(set(self.statuses) - set(STATUSES))
        if unknown or not self.statuses:
            raise ConfigError(f"--status {', '.join(unknown) or '(none)'}: expected some of {', '.join(STATUSES)}")
        for name in ("shard_size", "shard_bytes", "batch_size", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"export option {name} must be at least 1, got {getattr(self, name)}")
