"""The `catalog.sources` section: which roots, hosts and sizes a catalog's image references may reach."""

from __future__ import annotations

import posixpath
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator

__all__ = ["NEVER_READ", "SourcesConfig"]

# Never read, whatever `allow` lists: process and device state, not images (and /proc/self/environ holds keys).
NEVER_READ = ("/proc", "/dev", "/sys", "/run", "/var/run")
# Pillow warns past this many pixels and calls a file a decompression bomb at twice it: the cap stays below.
_PILLOW_WARNS_AT = 89_478_485


class SourcesConfig(BaseModel):
    """What a catalog row may read. Default-deny: the catalog's own folder (or bucket prefix) and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(
        default_factory=list,
        description=(
            "Roots readable besides the catalog's folder: absolute folders ('/data/images/'), object-store "
            "prefixes ('s3://assets/'), URL prefixes ('https://cdn.example.com/'). 'https://' alone allows "
            "any host on a public address. A URL entry naming a host also lets that host be reached on a "
            "private or loopback address (e.g. 'http://127.0.0.1:8765/' for a local server)."
        ),
    )
    max_bytes: Annotated[ByteSize, Field(gt=0, le=2 * 1024**3)] = Field(
        ByteSize(50_000_000), description="Largest source read, counted after decompression ('50MB', '1GiB')."
    )
    max_pixels: int = Field(
        50_000_000, ge=1, le=_PILLOW_WARNS_AT, description="Largest width × height decoded, read from the header."
    )
    timeout: float = Field(
        60.0, gt=0, le=3600, description="Seconds to fetch one source in total: every redirect and the whole body."
    )
    max_redirects: int = Field(5, ge=0, le=5, description="HTTP redirects followed per source, each re-checked.")

    @field_validator("allow")
    @classmethod
    def _entries_readable(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            problem = _entry_problem(entry.strip())
            if problem:
                raise ValueError(f"allow entry {entry!r} {problem}")
        return [entry.strip() for entry in entries]


def _entry_problem(entry: str) -> str | None:
    if not entry:
        return "is empty"
    if "://" not in entry:
        if not entry.startswith("/"):
            return "must be an absolute folder, or a URL prefix like s3://bucket/ or https://host/"
        return _never_problem(posixpath.normpath(entry))
    scheme = entry.split("://", 1)[0].lower()
    if scheme in ("file", "local"):
        return "uses file://, which is never read; list the folder as an absolute path instead"
    if scheme in ("http", "https"):
        parts = urlsplit(entry)
        if parts.query or parts.fragment or parts.username or parts.password:
            return "must be a plain prefix: no query, fragment or credentials"
    return None


def _never_problem(path: str) -> str | None:
    if path == "/":
        return f"is the whole filesystem, which holds {', '.join(NEVER_READ)}; list the image folders instead"
    for root in NEVER_READ:
        if path == root or path.startswith(root + "/"):
            return f"reaches {root}, which is never read (process and device files, not images)"
    return None
