"""The provider adapter interface: translate one retouch job to a provider's HTTP contract and back.

An adapter never schedules, sleeps, retries, rate-limits, stores or prices: the executor does that once
for every provider. Its two calls map onto every contract in providers.md:

    submit(job, inputs) -> ProviderResult   finished in one request (sync APIs, or a fast async job)
                        -> Accepted         accepted for async processing; the executor makes the id
                                            durable, then calls poll() every `poll_interval`
    poll(accepted)      -> ProviderResult | None (None: still pending)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any, ClassVar

import httpx

from tasks.core.config import ProviderSettings
from tasks.core.models import Accepted, EditJob, JobInputs, OutputImage, ProviderResult
from tasks.http.guarded import origin_of
from tasks.providers.outputs import OutputLimits, fetch_output_bytes

__all__ = ["Provider", "ProviderFactory"]


class Provider(ABC):
    """Base class of every adapter.

    Args:
        settings: this provider's section of the config.
        client: the HTTP client to use (tests inject MockTransport or an ASGI/sandbox transport).
        api_key: the resolved key, or None for providers that need none. Never logged or echoed.
        pool: where CPU-bound work runs, leased by the shard for `worker_processes(settings)` workers;
            None means threads of this process. Only in-process adapters use it; its owner closes it.
        output_limits: how output URLs are fetched (caps, trusted hosts); defaults when None.
    """

    name: ClassVar[str]
    default_base_url: ClassVar[str] = ""
    # True when an http(s) source may be passed on as a URL instead of being downloaded and uploaded.
    accepts_urls: ClassVar[bool] = False
    # True when the adapter talks HTTP at all (the local provider does not).
    remote: ClassVar[bool] = True
    # True when the executor may run this adapter's jobs as whole batches in its worker processes (`pool`),
    # bypassing `submit`: only for an in-process engine that nothing bills (tasks.pipeline.local_batches).
    edits_in_batches: ClassVar[bool] = False

    def __init__(
        self,
        *,
        settings: ProviderSettings,
        client: httpx.AsyncClient,
        api_key: str | None,
        pool: Executor | None = None,
        output_limits: OutputLimits | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self._api_key = api_key
        self.pool = pool
        self.output_limits = output_limits or OutputLimits(deadline=settings.timeout)

    @property
    def base_url(self) -> str:
        return (self.settings.base_url or self.default_base_url).rstrip("/")

    @classmethod
    def worker_processes(cls, settings: ProviderSettings, jobs: int | None = None) -> int:
        """How many worker processes the adapter wants for its CPU-bound work (0: none, use threads).

        Args:
            settings: the provider's settings.
            jobs: how many of a shard's jobs are this provider's (None: not known).

        Raises:
            ConfigError: the setting that asks for them is invalid.
        """
        return 0

    @classmethod  # noqa: B027 - a hook: adapters with documented ranges override it
    def check_params(cls, params: dict[str, Any], *, model: str | None, count: int, seed: int | None) -> None:
        """Validate a variant's params against the documented ranges before anything is sent.

        Raises:
            ValueError: naming the bad param, its value and the accepted range.
        """

    @classmethod  # noqa: B027 - a hook: adapters that read the prompt themselves override it
    def check_prompt(cls, prompt: str) -> None:
        """Check, before anything is sent, that the adapter can read a job's prompt.

        Raises:
            InputError: the prompt cannot be read; the job would fail (its row is named by the caller).
        """

    @property
    def balance_url(self) -> str | None:
        """Where `balance` reads the account's credits (None: nowhere); one URL and key is one account."""
        return None

    async def balance(self) -> float | None:
        """The account's remaining credits, where the provider tells them; None where it does not.

        Raises:
            ProviderError: the provider answered with an error (or did not answer).
        """
        return None

    @abstractmethod
    async def submit(self, job: EditJob, inputs: JobInputs) -> ProviderResult | Accepted:
        """Send the job; return its result, or the accepted async job to poll."""

    async def poll(self, accepted: Accepted) -> ProviderResult | None:
        """Ask once how an accepted job is doing; None while it is still pending."""
        raise NotImplementedError(f"{self.name} has no async jobs")

    async def fetch_output(self, output: OutputImage) -> OutputImage:
        """Download an output given as a URL (a plain GET, safe to retry) under the output guards.

        Raises:
            ProviderUnavailable / ProviderTimeout: network error, 5xx, deadline, or bytes that do not
                decode (truncated): fetching again may help.
            JobFailed: 404/410 (the output expired or never existed), or the guards refused the URL or
                its size (an internal address, over the byte or pixel cap).
        """
        if output.data is not None:
            return output
        assert output.source_url is not None
        data = await fetch_output_bytes(self.name, self.client, output.source_url, self._output_limits())
        return OutputImage(data=data, format=output.format, source_url=output.source_url)

    def _output_limits(self) -> OutputLimits:
        """The output guards, with this provider's own base_url trusted by name (its sandbox on loopback)."""
        own = origin_of(self.base_url) if self.base_url else None
        outer = self.output_limits.trusted
        return replace(self.output_limits, trusted=lambda url: origin_of(url) == own or outer(url))

    async def aclose(self) -> None:  # noqa: B027 - a hook: most adapters hold nothing of their own
        """Release what the adapter holds (the injected client is closed by its owner)."""

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"


ProviderFactory = type[Provider]
