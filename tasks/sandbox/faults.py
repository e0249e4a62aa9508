"""Seeded fault injection and latency: the same seed and the same requests give the same faults."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Sequence
from enum import StrEnum
from typing import TypeVar

from tasks.sandbox.settings import FaultSettings, ProviderName, SandboxProviderSettings

__all__ = ["SPOILING", "Fault", "FaultInjector"]

# Which faults bill (the rule every provider module follows):
# - ``http_5xx``, ``http_429``: answered before anything is created or charged; never billed.
# - ``hang``, ``malformed``, ``truncated``, ``output_404``: the job is accepted and billed as usual; only
#   the reply (or the output files) is broken, so a client that resubmits pays twice.
# - ``job_fail``: the job ends failed; billed or refunded by the provider's own failure rule
#   (Picsart keeps the charge, Pixapi refunds every failure, FASHN refunds only ``PipelineError``).
# - ``blank``, ``unchanged``, ``off_mask``: the job succeeds and is billed; its images are bad (spoil.py).

T = TypeVar("T")


class Fault(StrEnum):
    """The kinds of injected fault (the field names of ``FaultRates``)."""

    HTTP_5XX = "http_5xx"
    HTTP_429 = "http_429"
    HANG = "hang"
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    JOB_FAIL = "job_fail"
    OUTPUT_404 = "output_404"
    BLANK = "blank"
    UNCHANGED = "unchanged"
    OFF_MASK = "off_mask"


#: Faults that answer before anything is created; the only ones drawn on reads (polls, balances).
REJECTING = (Fault.HTTP_5XX, Fault.HTTP_429)
#: The faults that spoil a finished job's images (the job itself succeeds and is billed as usual).
SPOILING = (Fault.BLANK, Fault.UNCHANGED, Fault.OFF_MASK)
_TRANSPORT = tuple(fault for fault in Fault if fault not in SPOILING)


class FaultInjector:
    """One provider's draws. Submits, reads and latency use separate streams, so the number of polls a
    client happens to make never shifts the fault sequence its submits see."""

    def __init__(self, provider: ProviderName, faults: FaultSettings, settings: SandboxProviderSettings) -> None:
        self.provider = provider
        self.faults = faults
        self._latency = settings.latency
        self._submits = random.Random(f"{faults.seed}:{provider}:submit")
        self._reads = random.Random(f"{faults.seed}:{provider}:read")
        self._delays = random.Random(f"{faults.seed}:{provider}:latency")
        self.counts: dict[str, int] = {}

    def draw_submit(self, request_id: str | None = None) -> Fault | None:
        """The fault (if any) for the next job-creating request.

        With a request id (retouch sends its job key), a bad-output fault is a function of (seed, provider,
        request id) alone: the same job is spoiled the same way whatever order concurrent jobs arrive in,
        on a re-run, and in a pilot and the full run after it. A fault of any other kind is drawn from the
        seeded stream first (a resubmitted request draws again, so a retried 5xx can pass) and wins, so a
        bad-output rate is then the share of the submits the other faults let through.
        """
        if request_id is None:
            return self._draw(self._submits, tuple(Fault))
        return self._draw(self._submits, _TRANSPORT) or self._spoil_for(request_id)

    def draw_read(self) -> Fault | None:
        """The fault (if any) for the next read (poll, balance): only rejecting faults apply."""
        if not self.faults.on_reads:
            return None
        return self._draw(self._reads, REJECTING)

    def choose(self, options: Sequence[T]) -> T:
        """A seeded pick among a rejecting fault's answers (500 or 503)."""
        return options[self._submits.randrange(len(options))]

    def variant(self) -> float:
        """A seeded number for the job being accepted, drawn on every accepted submit so the stream
        moves the same way whatever the job's fault; picks a failure name when the job fails."""
        return self._submits.random()

    async def delay(self) -> None:
        """Sleep the configured latency (fixed, or drawn from the seeded [min, max] range)."""
        low, high = self._latency if isinstance(self._latency, tuple) else (self._latency, self._latency)
        seconds = low if low == high else self._delays.uniform(low, high)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _spoil_for(self, request_id: str) -> Fault | None:
        digest = hashlib.sha256(f"{self.faults.seed}:{self.provider}:spoil:{request_id}".encode()).digest()
        return self._walk(int.from_bytes(digest[:8], "big") / 2**64, SPOILING, SPOILING)

    def _draw(self, stream: random.Random, allowed: tuple[Fault, ...]) -> Fault | None:
        # One uniform draw per request walks the cumulative rates, so every request moves the stream once.
        return self._walk(stream.random(), tuple(Fault), allowed)

    def _walk(self, point: float, kinds: tuple[Fault, ...], allowed: tuple[Fault, ...]) -> Fault | None:
        rates = self.faults.rates_for(self.provider).rates()
        for fault in kinds:
            rate = rates[fault.value]
            if point < rate:
                if fault not in allowed:
                    return None
                self.counts[fault.value] = self.counts.get(fault.value, 0) + 1
                return fault
            point -= rate
        return None
