"""The `local` provider: real classical edits in-process with retouch's imaging engine; costs nothing."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from tasks.errors import SourceError
from tasks.imaging import edit_image_bytes, parse_instructions
from tasks.models import EditJob, JobInputs, OutputImage, ProviderResult
from tasks.providers.base import Provider

__all__ = ["LocalProvider"]

_FORMATS = ("png", "jpeg", "jpg", "webp")


class LocalProvider(Provider):
    """Edits with Pillow/OpenCV. Params: `format` (png|jpeg|webp), `quality` (1..100)."""

    name: ClassVar[str] = "local"
    remote: ClassVar[bool] = False

    @classmethod
    def check_params(cls, params: dict[str, Any], *, model: str | None, count: int, seed: int | None) -> None:
        unknown = sorted(set(params) - {"format", "quality"})
        if unknown:
            raise ValueError(f"unknown params {unknown} for provider local; it takes format, quality")
        fmt = params.get("format")
        if fmt is not None and str(fmt).lower() not in _FORMATS:
            raise ValueError(f"format {fmt!r} is not one of png, jpeg, webp")
        quality = params.get("quality", 90)
        if not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(f"quality {quality!r} must be an integer 1..100")

    async def submit(self, job: EditJob, inputs: JobInputs) -> ProviderResult:
        if inputs.image.data is None:
            raise SourceError(f"row {job.row_id}: source image was not loaded", row_id=job.row_id)
        parse_instructions(job.prompt)  # fail fast, before spending a thread on decoding
        params = job.params
        mask = inputs.mask.data if inputs.mask else None
        outputs = []
        for index in range(job.count):
            # Each extra output of one request gets its own seed so count > 1 gives distinct images.
            seed = (job.seed or 0) + index
            edited = await asyncio.to_thread(
                edit_image_bytes,
                inputs.image.data,
                job.prompt,
                seed=seed,
                mask=mask,
                output_format=params.get("format"),
                quality=params.get("quality", 90),
            )
            outputs.append(OutputImage(data=edited.data, format=edited.format))
        return ProviderResult(outputs=tuple(outputs), credits_used=0.0)
