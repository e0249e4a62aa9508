"""Is a source image there, and allowed? A look at a reference without reading it (http(s) never fetched)."""

from __future__ import annotations

from typing import Any, Literal

import fsspec

from tasks.core.errors import SourceError, SourceRefused
from tasks.core.models import ImageRef
from tasks.storage.source_policy import SourcePolicy
from tasks.storage.sources import shown_source

__all__ = ["SourceProblem", "missing_source"]

SourceProblem = tuple[Literal["refused", "missing"], str]  # what kind, and the message naming the source


def missing_source(
    ref: ImageRef, policy: SourcePolicy, storage_options: dict[str, Any] | None = None
) -> SourceProblem | None:
    """Why the run could not read `ref` ("refused" by the policy, or "missing"), or None when it looks readable.

    The source policy decides first (as the run's loader does: the same `SourcePolicy.check`); then a local
    file must exist and an object-store URL is looked up (one HEAD-like call, nothing read). An allowed
    http(s) URL is not fetched: fetching it is the run's business, under its caps and address checks.
    """
    shown = shown_source(ref)
    try:
        allowed = policy.check(ref)
    except SourceRefused as error:
        return "refused", f"{shown} {error}"
    except SourceError as error:
        return "missing", f"{shown} {error}"
    if allowed.how != "fsspec":
        return None
    try:
        fs, path = fsspec.core.url_to_fs(allowed.location, **(storage_options or {}))
        return None if fs.exists(path) else ("missing", f"{shown} does not exist")
    except (ImportError, ValueError, OSError) as error:
        return "missing", f"{shown} cannot be looked up: {error}"
