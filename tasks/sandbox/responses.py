"""JSON replies, and the two broken replies faults need: malformed JSON and a body cut short."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["TRUNCATED_LOG_MESSAGE", "TruncatedResponse", "json_reply", "malformed", "truncated"]

#: What uvicorn logs when a response ends early; server.py filters exactly this line out.
TRUNCATED_LOG_MESSAGE = "ASGI callable returned without completing response."


def json_reply(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A compact JSON response."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status_code=status, headers=dict(headers or {}), media_type="application/json")


def malformed(response: Response) -> Response:
    """The same reply with its JSON cut in half (a matching Content-Length): a 200 no parser accepts."""
    body = bytes(response.body)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return Response(body[: max(1, len(body) // 2)], status_code=200, headers=headers, media_type="application/json")


class TruncatedResponse(Response):
    """Announces the full Content-Length, sends half the body, then drops the connection."""

    def __init__(self, response: Response, background: BackgroundTask | None = None) -> None:
        super().__init__(bytes(response.body), status_code=response.status_code, background=background)
        self.raw_headers = list(response.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = bytes(self.body)[: len(self.body) // 2]
        # more_body stays True: the server sees an unfinished response and closes the connection.
        await send({"type": "http.response.body", "body": half, "more_body": True})


def truncated(response: Response) -> Response:
    """The same reply, cut short on the wire."""
    return TruncatedResponse(response)
