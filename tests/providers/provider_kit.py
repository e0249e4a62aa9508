"""Helpers for the provider contract tests: jobs, a tiny PNG, a recording MockTransport, a multipart reader."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from tasks.core.config import ProviderSettings
from tasks.core.models import EditJob, ImageRef, InputImage, JobInputs
from tasks.providers.base import Provider

KEY = "sk-TEST-never-shown-0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


def tiny_png(color: tuple[int, int, int, int] = (200, 40, 40, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = tiny_png()


def make_job(provider: str, **overrides: Any) -> EditJob:
    params = overrides.pop("params", {})
    values: dict[str, Any] = {
        "job_key": "jk-0001",
        "row_id": "row-1",
        "variant": "v1",
        "provider": provider,
        "model": None,
        "prompt": "make the sky purple",
        "params_json": json.dumps(params, sort_keys=True),
        "seed": 7,
        "count": 1,
        "image": ImageRef(kind="path", value="/data/a.png"),
    }
    values.update(overrides)
    return EditJob(**values)


def png_input(url: str | None = None, data: bytes | None = PNG) -> InputImage:
    return InputImage(data=data, media_type="image/png", url=url, filename="a.png")


def inputs(**roles: InputImage | None) -> JobInputs:
    return JobInputs(image=roles.pop("image", None) or png_input(), **roles)


@dataclass
class Wire:
    """A MockTransport that answers with `replies` in turn (a Response, a callable, or an exception)."""

    replies: list[Any]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply(request) if callable(reply) else reply

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def run(
    cls: type[Provider],
    wire: Wire,
    call: Callable[[Provider], Awaitable[Any]],
    *,
    key: str | None = KEY,
    **settings: Any,
) -> Any:
    """Build the adapter over `wire` and run `call(adapter)` on a fresh event loop."""

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(wire)) as client:
            adapter = cls(settings=ProviderSettings(**settings), client=client, api_key=key)
            return await call(adapter)

    return asyncio.run(go())


def reply(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None, content: bytes | None = None
) -> httpx.Response:
    if content is not None:
        return httpx.Response(status, content=content, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def form(request: httpx.Request) -> dict[str, list[tuple[str | None, str | None, bytes]]]:
    """A multipart body as {field: [(filename, content type, value), ...]}."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content
    )
    fields: dict[str, list[tuple[str | None, str | None, bytes]]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        ctype = part.get("content-type")
        value = part.get_payload(decode=True)
        fields.setdefault(str(name), []).append((part.get_filename(), str(ctype) if ctype else None, value))
    return fields


def text_fields(request: httpx.Request) -> dict[str, str]:
    """The non-file parts of a multipart body."""
    return {name: parts[0][2].decode() for name, parts in form(request).items() if parts[0][0] is None}


def assert_key_hidden(error: BaseException) -> None:
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in repr(getattr(error, "context", {}))
