"""Storage: atomic object writes under an fsspec URL, result tables, and source image loading."""

from tasks.storage.fs import Storage

__all__ = ["Storage"]
