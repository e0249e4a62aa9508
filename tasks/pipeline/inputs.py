"""A job's inputs, read under the source policy while their bytes and pixels are held in the memory budget."""

from __future__ import annotations

import asyncio

import httpx

from tasks.core.config import PipelineConfig, ProviderSettings
from tasks.core.errors import SourceRefused
from tasks.core.models import EditJob, ImageRef, InputImage, JobInputs
from tasks.pipeline.lane import ProviderLane
from tasks.pipeline.memory import ENGINE_WORKING_COPIES, MB, MemoryBudget, Reservation, ceiling_bytes, process_budget
from tasks.providers.outputs import OutputLimits
from tasks.storage.source_policy import SourcePolicy
from tasks.storage.sources import Footprint, SourceReader, decoded_size, estimate_footprint, load_image

__all__ = ["ENGINE_WORKING_COPIES", "InputHold", "InputLoader", "output_limits"]


class InputLoader:
    """Loads jobs' inputs for one shard: the catalog's policy, its client, the process's memory budget.

    Args:
        config: the pipeline config (`catalog.sources`, `catalog.storage_options`, `execution.memory_mb`).
        http: the client for http(s) sources.
        budget: the memory budget (the process's own when None).
    """

    def __init__(self, config: PipelineConfig, http: httpx.AsyncClient, budget: MemoryBudget | None = None) -> None:
        self.policy = SourcePolicy.for_catalog(config.catalog)
        self.config = config
        self.http = http
        self.budget = budget or process_budget(ceiling_bytes(config.execution.memory_mb))

    def hold(self, job: EditJob, lane: ProviderLane) -> InputHold:
        """A hold on `job`'s inputs: `load()` them, then `release()` once the job is done with them."""
        reader = SourceReader(
            self.policy,
            self.http,
            deadline=min(self.config.catalog.sources.timeout, lane.settings.timeout),
            storage_options=self.config.catalog.storage_options,
        )
        return InputHold(job, reader, self.budget, lane)


class InputHold:
    """One job's inputs and the memory they hold: reserved before reading, shrunk once sizes are known."""

    def __init__(self, job: EditJob, reader: SourceReader, budget: MemoryBudget, lane: ProviderLane) -> None:
        self.job = job
        self.reader = reader
        self.budget = budget
        self.need_bytes = not lane.adapter.accepts_urls
        # Remote providers get bytes: pixels are decoded once to check them, then dropped. The local
        # engine decodes them again and works on copies while the job runs.
        self.copies = ENGINE_WORKING_COPIES if not lane.adapter.remote else 1
        self._reservation: Reservation | None = None

    async def load(self) -> JobInputs:
        """Check every input against the policy, reserve their footprint, read and check them.

        Raises:
            SourceRefused: an input is not allowed, over a cap, or bigger than the whole memory budget.
            SourceError: an input is missing, unreachable or not a whole image.
        """
        roles = self._refs()
        row = self.job.row_id
        footprints = [await estimate_footprint(ref, self.reader, role=role, row_id=row) for role, ref in roles]
        need = sum(f.source_bytes + f.decoded_bytes * self.copies for f in footprints)
        if not all(f.exact for f in footprints):
            # A worst case past the ceiling is only a guess: hold all of it, read, then check the real size.
            need = min(need, self.budget.capacity)
        self._reservation = await self.budget.reserve(need, what=f"row {row}")
        loaded = await asyncio.gather(
            *(self._load(ref, role, footprint) for (role, ref), footprint in zip(roles, footprints, strict=True))
        )
        held = sum([await self._held(image, footprint) for image, footprint in zip(loaded, footprints, strict=True)])
        if held > self._reservation.amount:
            raise SourceRefused(
                f"row {row}: its inputs need {held / MB:.0f} MB of bytes and decoded pixels, more than the memory "
                f"ceiling ({self.budget.capacity // MB} MB, execution.memory_mb); raise it or lower "
                "catalog.sources.max_pixels",
                row_id=row,
            )
        self._reservation.shrink_to(held)
        by_role = dict(zip((role for role, _ in roles), loaded, strict=True))
        return JobInputs(image=by_role["image"], mask=by_role.get("mask"), image_context=by_role.get("image_context"))

    def release(self) -> None:
        """Give the memory back (harmless when nothing was reserved)."""
        if self._reservation is not None:
            self._reservation.release()

    def _refs(self) -> list[tuple[str, ImageRef]]:
        job = self.job
        refs = (("image", job.image), ("mask", job.mask), ("image_context", job.image_context))
        return [(role, ref) for role, ref in refs if ref is not None]

    async def _held(self, image: InputImage, footprint: Footprint) -> int:
        """What an input keeps once loaded: its bytes, plus the engine's working pixels for local edits."""
        if image.data is None:
            return 0
        if self.copies == 1:
            return len(image.data)
        decoded = footprint.decoded_bytes if footprint.exact else await asyncio.to_thread(decoded_size, image)
        return len(image.data) + decoded * self.copies

    async def _load(self, ref: ImageRef, role: str, footprint: Footprint) -> InputImage:
        # The local engine decodes the bytes at once: checking their header and structure is enough here.
        decode = self.copies == 1
        return await load_image(
            ref, self.reader, need_bytes=self.need_bytes, decode=decode, role=role, row_id=self.job.row_id,
            footprint=footprint,
        )  # fmt: skip


def output_limits(policy: SourcePolicy, settings: ProviderSettings) -> OutputLimits:
    """The guards on a provider's output URLs: the sources' caps, its own timeout, the hosts allow names."""
    sources = policy.config
    return OutputLimits(
        max_bytes=int(sources.max_bytes),
        max_pixels=sources.max_pixels,
        deadline=settings.timeout,
        max_redirects=sources.max_redirects,
        trusted=policy.trusted,
    )
