"""Builders for the costs tests: EditJobs made directly, and a fixed quote date."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from tasks.core.models import EditJob, ImageRef

TODAY = date(2026, 3, 1)


def make_job(
    provider: str = "pixapi.edits",
    model: str | None = "gemini-2.5-flash-image",
    *,
    params: dict[str, Any] | None = None,
    count: int = 1,
    variant: str = "v1",
    key: str = "k0",
    row_id: str = "r0",
) -> EditJob:
    """A job as the planner would make it; job_key is any string here."""
    return EditJob(
        job_key=key,
        row_id=row_id,
        variant=variant,
        provider=provider,
        model=model,
        prompt="make it pop",
        params_json=json.dumps(params or {}, sort_keys=True),
        seed=0,
        count=count,
        image=ImageRef(kind="path", value=f"images/{row_id}.png"),
    )
