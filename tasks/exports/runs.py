"""What the runs behind an export priced in and were configured with (read from their manifests by the caller)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunsInfo"]


@dataclass(frozen=True)
class RunsInfo:
    """The currency the runs priced in, and each run's config hash (by run id)."""

    currency: str = ""
    config_hashes: dict[str, str] = field(default_factory=dict)
