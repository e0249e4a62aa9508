"""Everything one sandbox server holds: settings, ledger, jobs, files, limiters, faults, counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from tasks.sandbox.faults import FaultInjector
from tasks.sandbox.files import FileStore
from tasks.sandbox.jobs import JobStore
from tasks.sandbox.ledger import CreditLedger
from tasks.sandbox.limits import KeyRateLimiter
from tasks.sandbox.settings import PROVIDERS, FaultSettings, ProviderName, SandboxProviderSettings, SandboxSettings
from tasks.sandbox.stats import Stats

__all__ = ["ProviderRuntime", "SandboxState"]


@dataclass
class ProviderRuntime:
    """One provider's settings with its rate limiter and fault draws."""

    name: ProviderName
    settings: SandboxProviderSettings
    limiter: KeyRateLimiter
    faults: FaultInjector


class SandboxState:
    """The server's state; lives in ``app.state.sandbox`` and is only touched on the server's loop."""

    def __init__(self, settings: SandboxSettings, clock: Callable[[], float]) -> None:
        self.settings = self.initial_settings = settings
        self.clock = clock
        self.ledger = CreditLedger(settings)
        self.jobs = JobStore(clock)
        self.files = FileStore(clock, settings.max_stored_bytes)
        self.stats = Stats()
        self.runtimes = {name: self._runtime(name) for name in PROVIDERS}
        self.webhook_sink: dict[str, list[dict[str, object]]] = {}
        self.background: set[asyncio.Task[object]] = set()
        self._http: httpx.AsyncClient | None = None
        # Set when the server shuts down, so hanging replies end at once (Events bind no loop until used).
        self.stopping = asyncio.Event()

    def _runtime(self, name: ProviderName) -> ProviderRuntime:
        settings = self.settings.provider(name)
        return ProviderRuntime(
            name,
            settings,
            KeyRateLimiter(settings.rate_limit, self.clock),
            FaultInjector(name, self.settings.faults, settings),
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The client for fetching image URLs and posting webhooks (created on first use, on our loop)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.url_fetch_timeout_seconds)
        return self._http

    def spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        """Run a background coroutine (webhook delivery), keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def set_faults(self, faults: FaultSettings) -> None:
        """Replace the fault settings; every fault and latency stream restarts from the new seed."""
        self.settings = self.settings.model_copy(update={"faults": faults})
        for runtime in self.runtimes.values():
            runtime.faults = FaultInjector(runtime.name, faults, runtime.settings)

    def fault_counts(self) -> dict[str, dict[str, int]]:
        """Injected faults so far, per provider."""
        return {name: dict(runtime.faults.counts) for name, runtime in self.runtimes.items()}

    async def reset(self) -> None:
        """Back to the start: settings (faults set at runtime too), balances, ledger, jobs, files,
        limits, counters and fault streams."""
        self.settings = self.initial_settings
        await self.jobs.clear()
        self.ledger.reset()
        self.files.clear()
        self.stats.reset()
        self.webhook_sink.clear()
        self.runtimes = {name: self._runtime(name) for name in PROVIDERS}

    async def close(self) -> None:
        """Stop background work and close the HTTP client (server shutdown)."""
        self.stopping.set()
        await self.jobs.close()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
