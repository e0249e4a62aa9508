"""The shared wire helpers: wait headers, reply metadata, output formats, base64 images."""

from __future__ import annotations

import base64
import email.utils
import json

import httpx
import pytest

from tasks.http import transport as wire
from tests.providers.provider_kit import PNG

NOW = 1_760_000_000.0
RESET = "X-Picsart-Ratelimit-Reset-Time"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": email.utils.formatdate(NOW + 10, usegmt=True)}, 10.0),  # an HTTP date
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({RESET: "30"}, 30.0),  # seconds to wait
        ({RESET: str(NOW + 45)}, 45.0),  # epoch seconds
        ({RESET: str(int((NOW + 20) * 1000))}, 20.0),  # epoch milliseconds
        ({RESET: str(NOW - 100)}, 0.0),  # already past
        ({RESET: "30", "Retry-After": "2"}, 2.0),  # Retry-After wins
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert wire.retry_after(httpx.Headers(headers), now=NOW, reset_header=RESET) == expected


def test_reply_meta_collects_ids_credits_and_rate_limit_headers() -> None:
    headers = httpx.Headers(
        {
            "X-Corr": "c-1",
            "X-Credits": "12.5",
            "X-RateLimit-Remaining": "3",
            "x-rate-limit-reset": "9",
            "Retry-After": "1",
            "Other": "x",
        }
    )
    meta = wire.reply_meta(headers, correlation_header="X-Corr", credits_available_header="X-Credits")
    assert (meta.request_id, meta.correlation_id, meta.credits_available, meta.credits_used) == (
        "c-1",
        "c-1",
        12.5,
        None,
    )
    assert json.loads(meta.rate_limit_json) == {
        "x-ratelimit-remaining": "3",
        "x-rate-limit-reset": "9",
        "retry-after": "1",
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.JPG", "jpeg"),
        ("https://cdn/x/out.webp?sig=1", "webp"),
        ("https://cdn/x/out", "png"),
        (None, "png"),
        ("a.png", "png"),
    ],
)
def test_format_hint(name: str | None, expected: str) -> None:
    assert wire.format_hint(name, "png") == expected


def test_decode_base64_image() -> None:
    encoded = base64.b64encode(PNG).decode()
    assert wire.decode_base64_image(encoded) == (PNG, "png")
    assert wire.decode_base64_image("data:image/jpeg;base64," + encoded) == (PNG, "jpeg")
    assert wire.decode_base64_image("data:image/png,rawtext") is None
    assert wire.decode_base64_image("@@@") is None
    assert wire.decode_base64_image("") is None


def test_status_error_class_defaults() -> None:
    names = {
        status: wire.status_error_class(status).__name__ for status in (401, 402, 403, 404, 408, 409, 429, 500, 302)
    }
    assert names == {
        401: "AuthError",
        402: "InsufficientCredits",
        403: "AuthError",
        404: "InvalidRequest",
        408: "ProviderTimeout",
        409: "InvalidRequest",
        429: "RateLimited",
        500: "ProviderUnavailable",
        302: "ProviderUnavailable",
    }
