"""The `local` provider: real classical edits in-process with retouch's imaging engine; costs nothing."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, ClassVar

from tasks.core.config import ProviderSettings
from tasks.core.errors import ConfigError, SourceError
from tasks.core.formats import parse_format
from tasks.core.models import EditJob, JobInputs, OutputImage, ProviderResult
from tasks.imaging import edit_image_bytes, parse_instructions
from tasks.providers.base import Provider

__all__ = ["LocalProvider", "located"]

# A shard with fewer local jobs edits them in threads of its own process unless `workers` is set: a worker
# process takes about as long to start as a few dozen thumbnails take to edit.
_FEW_JOBS = 32


class LocalProvider(Provider):
    """Edits with Pillow/OpenCV. Params: `format` (png|jpeg|webp), `quality` (1..100).

    Option `workers`: edit in that many worker processes; by default one per core for a shard of at least
    32 local jobs; 0 or 1 edits in threads of this process. Edits are CPU-bound Python + Pillow: in threads
    they contend for the GIL (measured: 2,000 small edits took 8.7 s of thread time against 1 s in one
    thread). The pool itself is the shard's (`tasks.pipeline.pool`), handed in as `pool`. With a pool, the
    executor hands whole batches of jobs to the workers (`edits_in_batches`: `tasks.pipeline.local_batches`);
    `submit` edits one job.
    """

    name: ClassVar[str] = "local"
    remote: ClassVar[bool] = False
    edits_in_batches: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker_processes(self.settings)  # the options are checked however the adapter is built

    @classmethod
    def worker_processes(cls, settings: ProviderSettings, jobs: int | None = None) -> int:
        unknown = sorted(set(settings.options) - {"workers"})
        if unknown:
            raise ConfigError(f"providers.local.options: unknown option(s) {', '.join(unknown)}; known: workers")
        workers = settings.options.get("workers", os.cpu_count() or 1)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ConfigError(f"providers.local.options.workers={workers!r}: use a whole number >= 0")
        if "workers" not in settings.options and jobs is not None and jobs < _FEW_JOBS:
            return 0  # by default a handful of edits runs here: starting processes would take longer
        return workers if workers > 1 else 0  # one worker process would only add the trips to it

    @classmethod
    def check_params(cls, params: dict[str, Any], *, model: str | None, count: int, seed: int | None) -> None:
        unknown = sorted(set(params) - {"format", "quality"})
        if unknown:
            raise ValueError(f"unknown params {unknown} for provider local; it takes format, quality")
        fmt = params.get("format")
        if fmt is not None and parse_format(str(fmt)) is None:
            raise ValueError(f"format {fmt!r} is not one of png, jpeg, webp")
        quality = params.get("quality", 90)
        if not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(f"quality {quality!r} must be an integer 1..100")

    @classmethod
    def check_prompt(cls, prompt: str) -> None:
        parse_instructions(prompt)

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
            edit = functools.partial(
                edit_image_bytes,
                inputs.image.data,
                job.prompt,
                seed=seed,
                mask=mask,
                output_format=params.get("format"),
                quality=params.get("quality", 90),
            )
            try:
                edited = await asyncio.get_running_loop().run_in_executor(self.pool, edit)
            except SourceError as error:
                raise located(job, error) from None
            outputs.append(OutputImage(data=edited.data, format=edited.format))
        return ProviderResult(outputs=tuple(outputs), credits_used=0.0)


def located(job: EditJob, error: SourceError) -> SourceError:
    """The engine's error about bytes, saying which row and file it was about (the engine knows neither)."""
    mask_part = f", mask {job.mask.display}" if job.mask else ""
    where = f"row {job.row_id} (image {job.image.display}{mask_part})"
    return SourceError(f"{where}: {error.message}", row_id=job.row_id, field=error.field)
