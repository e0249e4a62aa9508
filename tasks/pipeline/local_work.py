"""A worker process's side of a batch of local jobs: read, decode, edit, encode, score, write under a
temporary name and hash, all from the pixels in hand; the shard's process only renames and records rows."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from tasks.core.config import CatalogConfig
from tasks.core.errors import SourceError
from tasks.core.formats import EXTENSIONS
from tasks.core.models import EditJob, ImageRef, OutputImage, StoredOutput
from tasks.imaging import (
    DecodedSource,
    EditedImage,
    apply_operations,
    decode_source,
    encode,
    parse_instructions,
    resolve_format,
)
from tasks.pipeline.memory import ENGINE_WORKING_COPIES, over_ceiling, process_budget
from tasks.pipeline.outputs import prepare_output
from tasks.providers.local import located
from tasks.quality import (
    Reference,
    Scorer,
    asked_size,
    load_scorers,
    reference_from_pixels,
    sample_from_pixels,
    score_sample,
)
from tasks.quality.metrics import common_size
from tasks.storage.fs import Storage
from tasks.storage.layout import image_path
from tasks.storage.source_policy import SourcePolicy
from tasks.storage.sources import read_source

__all__ = ["LocalOutcome", "LocalWork", "StagedOutput", "output_scores", "run_batch", "source_reference"]

INPUTS, EDIT = "inputs", "edit"
_CONTEXTS = 4  # shards' settings a worker keeps (runs in one process follow each other)


@dataclass(frozen=True)
class LocalWork:
    """What a worker needs for one shard's local jobs; sent with each batch, set up once per worker by `token`.

    Attributes:
        token: names these settings (the worker builds its policy, storage and scorers once for it).
        catalog: the catalog's config (its source policy and storage options).
        output_uri: output.uri, a local folder (workers write beside the final names).
        storage_options: output.storage_options.
        convert_to: output.format (None keeps the engine's format).
        memory_ceiling: bytes one job's inputs and working copies may take (execution.memory_mb).
        scorers: the optional scorers' names by variant.
    """

    token: str
    catalog: CatalogConfig
    output_uri: str
    storage_options: dict[str, Any]
    convert_to: str | None
    memory_ceiling: int
    scorers: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class StagedOutput:
    """One output, scored and hashed: written under `temporary` beside its final path, or, when that write
    failed, carried back as `data` for the shard's process to write (with its retries and spool)."""

    relative: str
    stored: StoredOutput
    temporary: str | None = None
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LocalOutcome:
    """How one job went in the worker: its staged outputs, or the error and the step (`INPUTS`, `EDIT`)."""

    job_key: str
    started_at: float
    finished_at: float
    outputs: tuple[StagedOutput, ...] = ()
    error: BaseException | None = None
    step: str | None = None


@dataclass
class _Context:
    policy: SourcePolicy
    storage: Storage
    scorers: dict[str, list[tuple[str, Scorer]]]
    made: set[str] = field(default_factory=set)


_contexts: OrderedDict[str, _Context] = OrderedDict()


def run_batch(work: LocalWork, jobs: Sequence[EditJob]) -> list[LocalOutcome]:
    """Run `jobs` one after another in this process (one job's pixels at a time); never raises for a job."""
    context = _context(work)
    return [_run(work, context, job) for job in jobs]


def _context(work: LocalWork) -> _Context:
    found = _contexts.get(work.token)
    if found is None:
        process_budget(work.memory_ceiling)  # freed image buffers go back to the OS at once (glibc)
        scorers = {variant: load_scorers(names) for variant, names in work.scorers}
        found = _Context(
            SourcePolicy.for_catalog(work.catalog), Storage(work.output_uri, work.storage_options), scorers
        )
        _contexts[work.token] = found
        while len(_contexts) > _CONTEXTS:
            _contexts.popitem(last=False)
    return found


def _run(work: LocalWork, context: _Context, job: EditJob) -> LocalOutcome:
    started = time.time()
    try:
        inputs = _read(work, context, job)
    except Exception as error:  # every job ends as a row: the shard's process records it
        return LocalOutcome(job.job_key, started, time.time(), error=_portable(error), step=INPUTS)
    try:
        outputs = _edit(work, context, job, inputs)
    except Exception as error:
        return LocalOutcome(job.job_key, started, time.time(), error=_portable(error), step=EDIT)
    return LocalOutcome(job.job_key, started, time.time(), outputs=outputs)


def _read(work: LocalWork, context: _Context, job: EditJob) -> dict[str, bytes]:
    """Every input's bytes, checked as the shard's loader checks them, within the memory ceiling."""
    roles: list[tuple[str, ImageRef]] = [("image", job.image)]
    roles += [(role, ref) for role, ref in (("mask", job.mask), ("image_context", job.image_context)) if ref]
    loaded, need = {}, 0
    options = work.catalog.storage_options
    for role, ref in roles:
        data, header = read_source(ref, context.policy, storage_options=options, role=role, row_id=job.row_id)
        loaded[role] = data
        need += len(data) + header.decoded_bytes * ENGINE_WORKING_COPIES
    if need > work.memory_ceiling:
        raise over_ceiling(need, work.memory_ceiling, f"row {job.row_id}")
    return loaded


def _edit(work: LocalWork, context: _Context, job: EditJob, inputs: dict[str, bytes]) -> tuple[StagedOutput, ...]:
    """The job's outputs, as `LocalProvider.submit` makes them: one decode, one edit per output's seed."""
    operations = parse_instructions(job.prompt)
    params = job.params
    try:
        source = decode_source(inputs["image"], inputs.get("mask"))
        fmt, quality = resolve_format(params.get("format"), source.format), params.get("quality", 90)
        staged, reference = [], None
        for index in range(job.count):
            # Each extra output of one request gets its own seed so count > 1 gives distinct images.
            result = apply_operations(source.image, operations, seed=(job.seed or 0) + index, mask=source.mask)
            reference = reference or source_reference(source)
            staged.append(_stage(work, context, job, index, encode(result, fmt, quality), result, reference))
    except SourceError as error:
        raise located(job, error) from None
    return tuple(staged)


def _stage(
    work: LocalWork,
    context: _Context,
    job: EditJob,
    index: int,
    edited: EditedImage,
    pixels: Image.Image,
    reference: Reference | None,
) -> StagedOutput:
    if work.convert_to:
        prepared = prepare_output(context.storage, job, index, OutputImage(edited.data, edited.format), work.convert_to)
        relative, data, stored = prepared.relative, prepared.data, prepared.stored
    else:
        relative, data = image_path(job.variant, job.job_key, index, EXTENSIONS[edited.format]), edited.data
        stored = StoredOutput(
            index=index, uri=context.storage.url(relative), width=edited.width, height=edited.height,
            format=edited.format, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        )  # fmt: skip
    stored = replace(stored, scores=_scores(context, job, pixels, reference))
    temporary = _write(context, relative, data)
    return StagedOutput(relative, stored, temporary, None if temporary else data)


def source_reference(source: DecodedSource) -> Reference | None:
    """The source (and mask) at the scores' common size, from the engine's decoded pixels; None if unreadable."""
    try:
        common = common_size(*source.image.size)
        mask = None
        if source.mask is not None:
            grey = source.mask if source.mask.mode == "L" else source.mask.convert("L")
            mask = np.asarray(grey if grey.size == common else grey.resize(common, Image.Resampling.NEAREST))
        return reference_from_pixels(_rgb(source.image, common), mask)
    except Exception:  # scores are advisory: a source they cannot read leaves the outputs unscored
        return None


def _scores(
    context: _Context, job: EditJob, pixels: Image.Image, reference: Reference | None
) -> tuple[tuple[str, float | bool | str | None], ...]:
    return output_scores(pixels, reference, asked_size(job.params), job.prompt, context.scorers.get(job.variant, []))


def output_scores(
    pixels: Image.Image,
    reference: Reference | None,
    asked: tuple[int, int] | None,
    prompt: str,
    scorers: Sequence[tuple[str, Scorer]] = (),
) -> tuple[tuple[str, float | bool | str | None], ...]:
    """An output's scores from the engine's own pixels (before encoding: a JPEG's are not decoded again).

    Empty when scoring failed: the output is then left unjudged, as the gate leaves one it cannot score.
    """
    try:
        common = common_size(*pixels.size) if reference is None else reference.pixels.shape[1::-1]
        small = _rgb(pixels, (int(common[0]), int(common[1])))
        sample = sample_from_pixels(small, reference, asked, prompt, size=pixels.size)
        return tuple(score_sample(sample, scorers).items())
    except Exception:
        return ()


def _rgb(image: Image.Image, size: tuple[int, int]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The colour bands (alpha dropped, as OpenCV decodes a stored output), shrunk to `size` by box averages
    (the area average the scores' own resize takes) before a copy leaves Pillow.

    A whole factor on both sides (512 -> 128) is `reduce`: each pixel the rounded mean of its block, in a
    third of the time of a box `resize` (whose two passes each round, so some values differ by one level).
    Any other factor keeps the box `resize`: reducing first by the whole part moves the scores by percents.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if size[0] < rgb.width and size[1] < rgb.height:
        factor = (rgb.width // size[0], rgb.height // size[1])
        whole = (factor[0] * size[0], factor[1] * size[1]) == rgb.size
        rgb = rgb.reduce(factor) if whole else rgb.resize(size, Image.Resampling.BOX)
    return np.asarray(rgb, dtype=np.uint8)  # any other size is matched by the scores' own (OpenCV) resize


def _write(context: _Context, relative: str, data: bytes) -> str | None:
    """Write `data` beside its final path under a hidden temporary name; None when the write failed."""
    target = context.storage.path(relative)
    directory = os.path.dirname(target)
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    try:
        if directory not in context.made:
            os.makedirs(directory, exist_ok=True)
            context.made.add(directory)
        with open(temporary, "wb") as handle:
            handle.write(data)
    except OSError:
        try:
            os.remove(temporary)
        except OSError:
            pass  # never created
        return None
    return temporary


def _portable(error: Exception) -> BaseException:
    """The error itself when it crosses processes intact; otherwise one carrying its type's name and message."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
