"""FASHN webhook delivery (best effort, retried on non-2xx), and a sink that records deliveries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from tasks.sandbox.responses import json_reply
from tasks.sandbox.state import SandboxState

__all__ = ["deliver", "sink_list", "sink_receive"]

log = logging.getLogger(__name__)


async def deliver(
    state: SandboxState, url: str, payload: dict[str, Any], delays: Sequence[float], timeout: float
) -> bool:
    """POST ``payload`` to ``url``; on a non-2xx answer or no answer, retry after each of ``delays``.

    Returns:
        Whether a delivery was acknowledged with a 2xx.
    """
    for attempt, delay in enumerate([0.0, *delays]):
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            response = await state.http.post(url, json=payload, timeout=timeout)
        except httpx.HTTPError as error:
            log.info("webhook attempt %d for %s failed: %s", attempt + 1, payload.get("id"), type(error).__name__)
            continue
        if 200 <= response.status_code < 300:
            return True
        log.info("webhook attempt %d for %s answered %d", attempt + 1, payload.get("id"), response.status_code)
    log.warning("webhook for %s gave up after %d attempts", payload.get("id"), len(delays) + 1)
    return False


async def sink_receive(request: Request) -> Response:
    """``POST /_sandbox/webhooks/{name}``: record a delivery; ``?fail=N`` answers 500 to the first N."""
    state: SandboxState = request.app.state.sandbox
    name = request.path_params["name"]
    received = state.webhook_sink.setdefault(name, [])
    try:
        fail = int(request.query_params.get("fail", "0"))
    except ValueError:
        fail = 0
    status = 500 if len(received) < fail else 200
    try:
        body: object = await request.json()
    except ValueError:
        body = (await request.body()).decode("utf-8", "replace")
    received.append({"status": status, "payload": body})
    return json_reply({"received": True}, status)


async def sink_list(request: Request) -> Response:
    """``GET /_sandbox/webhooks/{name}``: every delivery received, with the status it was answered."""
    state: SandboxState = request.app.state.sandbox
    return json_reply(state.webhook_sink.get(request.path_params["name"], []))
