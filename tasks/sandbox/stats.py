"""Request counters per provider (requests, status codes, 429s sent), kept by an ASGI middleware."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Stats", "StatsMiddleware"]


class Stats:
    """Counts by area: the first path segment (``picsart``, ``pixapi``, ``fashn``, ``cdn``, ``_sandbox``)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: dict[str, Counter[int]] = {}
        self.jobs: Counter[str] = Counter()

    def record(self, area: str, status: int) -> None:
        """Count one answered request."""
        self.requests[area] += 1
        self.statuses.setdefault(area, Counter())[status] += 1

    def snapshot(self, faults: dict[str, dict[str, int]], refunds: int) -> dict[str, Any]:
        """The counters as JSON, with the injected-fault counts per provider."""
        areas = sorted(set(self.requests) | set(faults))
        result: dict[str, Any] = {}
        for area in areas:
            statuses = self.statuses.get(area, Counter())
            result[area] = {
                "requests": self.requests[area],
                "statuses": {str(code): count for code, count in sorted(statuses.items())},
                "rate_limited": statuses[429],
                "jobs": self.jobs[area],
                "faults": faults.get(area, {}),
            }
        result["refunds"] = refunds
        return result

    def reset(self) -> None:
        """Zero every counter."""
        self.requests.clear()
        self.statuses.clear()
        self.jobs.clear()


class StatsMiddleware:
    """Records the status of every HTTP response under its path's first segment."""

    def __init__(self, app: ASGIApp, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        area = scope["path"].strip("/").split("/", 1)[0] or "/"

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.stats.record(area, message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)
