"""A job's work: edit the input off the event loop, honour ``job_fail``, publish outputs on the CDN."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

from tasks.core.errors import SourceError
from tasks.core.formats import MEDIA_TYPES
from tasks.imaging import EditedImage
from tasks.sandbox.editing import EditSpec, render_edits
from tasks.sandbox.faults import Fault
from tasks.sandbox.files import FileStore
from tasks.sandbox.inputs import LoadError
from tasks.sandbox.jobs import Failure, JobError, ProviderJob
from tasks.sandbox.spoil import spoil

__all__ = ["b64", "data_uri", "edit_job", "publish"]

Loader = Callable[[], Awaitable[bytes]]


async def edit_job(
    job: ProviderJob, source: bytes | Loader, spec: EditSpec, *, bad_image: Callable[[str], Failure],
    injected: Callable[[], Failure],
) -> list[EditedImage]:  # fmt: skip
    """Edit the job's input; the provider's own failures replace ours.

    Args:
        job: the job (its drawn fault decides ``job_fail``).
        source: the image bytes, or a coroutine function fetching them (FASHN loads inside the job).
        spec: what to render.
        bad_image: the provider's failure for an input that cannot be fetched or decoded.
        injected: the provider's failure for a ``job_fail`` fault.

    Raises:
        JobError: the job fails.
    """
    if job.fault is Fault.JOB_FAIL:
        raise JobError(injected())
    data = source if isinstance(source, bytes) else await _load(source, bad_image)
    try:
        images = await asyncio.to_thread(render_edits, data, spec)
    except SourceError as error:
        raise JobError(bad_image(str(error))) from error
    return await asyncio.to_thread(spoil, job.fault, images, data, spec)


async def _load(loader: Loader, bad_image: Callable[[str], Failure]) -> bytes:
    try:
        return await loader()
    except LoadError as error:
        raise JobError(bad_image(str(error))) from error


def publish(job: ProviderJob, files: FileStore, ttl: float) -> None:
    """Store a finished job's images on the CDN, marked broken when its fault says so."""
    truncated, missing = job.fault is Fault.TRUNCATED, job.fault is Fault.OUTPUT_404
    job.file_names = [
        files.put(job.provider, image.data, image.format, ttl, truncated=truncated, missing=missing)
        for image in job.images
    ]
    # The files hold the bytes now; replies about URL outputs never read the images again.
    job.images = []


def b64(image: EditedImage) -> str:
    """The image as plain base64 (Pixapi ``b64_json``)."""
    return base64.b64encode(image.data).decode("ascii")


def data_uri(image: EditedImage) -> str:
    """The image as a data URI (FASHN ``return_base64``)."""
    return f"data:{MEDIA_TYPES[image.format]};base64,{b64(image)}"
