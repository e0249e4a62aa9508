"""Circuit breakers per provider: a bad key, spent credits or a dead connection stop that lane's submits.

A breaker opens for good (for the rest of the run) when the provider says the key is refused
(`AuthError`) or the credits are gone (`InsufficientCredits`), or after a run of requests that still
could not connect once their retries were spent (`ProviderUnreachable`). The lane reports each
request's final outcome, after retries. Once open, no submit is sent: jobs not yet sent end `skipped` with
`LaneStopped`, and the next run sends them. Requests already on the wire finish as they will.

Until the lane has had one success, at most `probes` submits are in flight, so a wrong key or an
empty account costs a couple of requests, not one per concurrent job. A breaker is shared by every
shard of a run; shards run in threads with their own event loops, so state sits behind a thread lock
and waiters are woken on their own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tasks.core.errors import (
    AuthError,
    InsufficientCredits,
    LaneStopped,
    ProviderError,
    ProviderTimeout,
    ProviderUnreachable,
    SubmitOutcomeUnknown,
)

__all__ = ["CONNECTION_FAILURES", "PROBES", "Breaker", "BreakerBoard", "LaneStop"]

# Submits in flight before the lane has proven its key and credits with one success.
PROBES = 2
# Requests in a row that could not connect even after their retries: each already rode out a blip of
# several seconds (the retry policy), so five in a row is an outage, not noise.
CONNECTION_FAILURES = 5
# Errors that say nothing about the connection either way (no answer was read, or nothing was sent).
_SILENT = (ProviderTimeout, SubmitOutcomeUnknown, LaneStopped)


@dataclass(frozen=True)
class LaneStop:
    """Why a lane stopped: which breaker (auth, credits, connection) and the error that opened it."""

    provider: str
    breaker: str
    reason: str

    def describe(self) -> str:
        return f"{self.provider}: {self.breaker} breaker open — {self.reason}"


class Breaker:
    """One provider's breaker for one run.

    Args:
        provider: the provider's name, for messages.
        probes: submits allowed in flight before the first success.
        connection_failures: requests in a row ending `ProviderUnreachable` that open the breaker.
    """

    def __init__(self, provider: str, *, probes: int = PROBES, connection_failures: int = CONNECTION_FAILURES) -> None:
        self.provider = provider
        self.probes = probes
        self.connection_failures = connection_failures
        self._lock = threading.Lock()
        self._stop: LaneStop | None = None
        self._proven = False
        self._probing = 0
        self._unreachable = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def stop(self) -> LaneStop | None:
        """Why the lane stopped, or None while it runs."""
        return self._stop

    def check(self) -> None:
        """Raises LaneStopped when the breaker is open."""
        stop = self._stop
        if stop is not None:
            raise LaneStopped(
                f"{stop.describe()}; this job was not sent (it runs on the next run)",
                provider=self.provider,
                breaker=stop.breaker,
            )

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a submit slot: free once the lane is proven, at most `probes` before.

        Raises:
            LaneStopped: the breaker is open (checked again after any wait).
        """
        probe = await self._enter()
        try:
            yield
        except (AuthError, InsufficientCredits) as error:
            self.record(error)  # opened before the slot is handed on, so no waiter slips through
            raise
        finally:
            if probe:
                with self._lock:
                    self._probing -= 1
                    self._wake()

    def record(self, error: BaseException | None) -> None:
        """Count one request's final outcome (after its retries): None for a success, else its error."""
        with self._lock:
            if error is None:
                self._proven, self._unreachable = True, 0
                self._wake()
            elif isinstance(error, AuthError):
                self._open("auth", error)
            elif isinstance(error, InsufficientCredits):
                self._open("credits", error)
            elif isinstance(error, ProviderUnreachable):
                self._unreachable += 1
                if self._unreachable >= self.connection_failures:
                    self._open("connection", error, f"{self._unreachable} connection failures in a row; last: ")
            elif isinstance(error, ProviderError) and not isinstance(error, _SILENT):
                self._unreachable = 0  # an answer: the provider is reachable

    async def _enter(self) -> bool:
        while True:
            with self._lock:
                self.check()
                if self._proven:
                    return False
                if self._probing < self.probes:
                    self._probing += 1
                    return True
                event = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), event))
            await event.wait()

    def _open(self, breaker: str, error: BaseException, prefix: str = "") -> None:
        if self._stop is None:
            self._stop = LaneStop(self.provider, breaker, prefix + str(error))
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


class BreakerBoard:
    """The breakers of one run, one per provider, shared by all its shards."""

    def __init__(self, *, probes: int = PROBES, connection_failures: int = CONNECTION_FAILURES) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, Breaker] = {}
        self._options = {"probes": probes, "connection_failures": connection_failures}

    def get(self, provider: str) -> Breaker:
        """The provider's breaker, made on first use."""
        with self._lock:
            if provider not in self._breakers:
                self._breakers[provider] = Breaker(provider, **self._options)
            return self._breakers[provider]

    def stops(self) -> dict[str, str]:
        """Provider → why its lane stopped, for every stopped lane."""
        with self._lock:
            breakers = list(self._breakers.values())
        return {b.provider: b.stop.describe() for b in breakers if b.stop is not None}
