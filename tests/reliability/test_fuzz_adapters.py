"""Property tests over every remote adapter's response parsing: whatever a provider (or anything in
between) answers — random, truncated, wrong-typed, oversized bodies and headers — a submit, a poll or
an output fetch ends in a result or in a classified `ProviderError`, never a KeyError, TypeError,
ValueError or UnicodeDecodeError escaping."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tasks.core.config import ProviderSettings
from tasks.core.errors import ProviderError
from tasks.core.models import Accepted, OutputImage, ProviderResult
from tasks.providers.registry import provider_class
from tests.providers.provider_kit import KEY, inputs, make_job

# Background threads other tests leave running (Prefect's client workers) draw from the global `random`
# module while Hypothesis generates, which it reports as if these strategies did; they do not.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
ADAPTERS = [
    ("picsart.edit", None),
    ("picsart.outpaint", None),
    ("pixapi.edits", "async"),
    ("pixapi.edits", "sync"),
    ("fashn.edit", None),
]

# --- what a reply can look like -------------------------------------------------------------------

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "success", "error", "completed", "failed", "processing", "https://cdn.example/x.png",
                     "data:image/png;base64,iVBORw0KGgo=", "aGVsbG8=", "inf-1", "canceled", "time_out"]),
)  # fmt: skip
_json = st.recursive(
    _scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
_FIELDS = [
    "status", "data", "inference_id", "transaction_id", "message", "detail", "fault", "id", "error", "output",
    "usage", "credits_used", "costCredits", "url", "b64_json", "name", "code", "type", "faultstring",
]  # fmt: skip


def _shaped(depth: int = 2) -> st.SearchStrategy[Any]:
    """Documented field names with any values, nested: the wrong-typed bodies a parser meets."""
    value = _json if depth == 0 else st.one_of(_json, _shaped(depth - 1), st.lists(_shaped(depth - 1), max_size=3))
    return st.dictionaries(st.sampled_from(_FIELDS), value, max_size=6)


def _encoded(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


_bodies = st.one_of(
    st.binary(max_size=300),  # random bytes, invalid UTF-8 included
    _json.map(_encoded),
    _shaped().map(_encoded),
    st.tuples(_shaped().map(_encoded), st.integers(min_value=0, max_value=400)).map(lambda pair: pair[0][: pair[1]]),
    st.sampled_from([
        b"[" * 50_000 + b"]" * 50_000,  # nesting past the parser's recursion limit
        b'{"data": [' + b'{"url": "https://cdn.example/a.png"},' * 2000 + b"null]}",
        b'{"id": ' + b"9" * 5000 + b"}",  # an integer past Python's digit limit
        b'{"status": "completed", "output": ["' + b"A" * 1_000_000 + b'"]}',  # 1 MB of base64-ish text
        b'{"data": [{"b64_json": "' + b"=" * 10_001 + b'"}]}',
        b"\xef\xbb\xbf{}", b"null", b"", b" ", b"\x00" * 64,
    ]),
)  # fmt: skip
_header_names = st.sampled_from([
    "retry-after", "retry-after-ms", "x-request-id", "X-Picsart-Correlation-Id", "X-Picsart-Credit-Available",
    "X-Picsart-Ratelimit-Reset-Time", "X-Picsart-Ratelimit-Limit", "x-fashn-credits-used", "content-type",
    "content-encoding", "x-ratelimit-remaining",
])  # fmt: skip
_header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.sampled_from(["nan", "inf", "-inf", "-1", "1e309", "9" * 400, "Wed, 21 Oct 2015 07:28:00 GMT",
                     "Mon, 99 Foo 99999 99:99:99 GMT", "gzip", "br", "deflate", "application/json; charset=utf-7"]),
    st.binary(min_size=1, max_size=20).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"") or b"x"),
)  # fmt: skip
_headers = st.lists(st.tuples(_header_names, _header_values), max_size=5)
_statuses = st.one_of(
    st.sampled_from([200, 201, 202, 204, 400, 401, 402, 403, 404, 408, 410, 413, 415, 422, 429, 500, 502, 503]),
    st.integers(min_value=100, max_value=599),
)


def _image(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG that claims `width` x `height` pixels, with almost no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


_formats = st.sampled_from(["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
_image_bodies = st.one_of(
    _bodies,
    st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(0, 400)).map(lambda t: _image(t[0], t[1])[: t[2]]),
    st.tuples(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1)).map(lambda t: _png_claiming(*t)),
    st.tuples(_formats, st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4)).map(
        lambda t: _flipped(_image(20, 20, t[0]), t[1])
    ),  # a few bytes of a real image changed (headers included: sizes, counts, offsets)
)


def _flipped(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    changed = bytearray(data)
    for where, value in changes:
        changed[where % len(changed)] = value
    return bytes(changed)


# --- running one call against one fuzzed reply ----------------------------------------------------


def _reply(status: int, headers: list[tuple[str, Any]], body: bytes) -> httpx.Response:
    # As a stream, so the client decodes it (Content-Encoding included) as it would off the wire.
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _call(name: str, mode: str | None, response: httpx.Response, action: str) -> Any:
    async def go() -> Any:
        transport = httpx.MockTransport(lambda request: response)
        async with httpx.AsyncClient(transport=transport) as client:
            # The output URL's host is the provider's own (trusted by name), so no address is looked up.
            settings = ProviderSettings(mode=mode, base_url="https://cdn.example" if action == "fetch" else None)
            adapter = provider_class(name)(settings=settings, client=client, api_key=KEY)
            if action == "submit":
                job = make_job(name, model="gpt-image-1.5" if name.startswith("pixapi") else None)
                return await adapter.submit(job, inputs())
            if action == "poll":
                accepted = Accepted(provider=name, provider_job_id="job-1", detail_json=json.dumps({"format": "png"}))
                return await adapter.poll(accepted)
            return await adapter.fetch_output(OutputImage(data=None, format="png", source_url="https://cdn.example/o"))

    return asyncio.run(go())


def _outcome(name: str, mode: str | None, response: httpx.Response, action: str) -> Any:
    """The call's result, or its error if it is classified; anything else fails the property."""
    try:
        return _call(name, mode, response, action)
    except ProviderError as error:
        assert KEY not in str(error)
        return error


@pytest.mark.parametrize(("name", "mode"), ADAPTERS)
@FUZZ
@given(status=_statuses, headers=_headers, body=_bodies)
def test_any_submit_reply_ends_in_a_result_or_a_classified_error(
    name: str, mode: str | None, status: int, headers: list[tuple[str, Any]], body: bytes
) -> None:
    outcome = _outcome(name, mode, _reply(status, headers, body), "submit")
    assert isinstance(outcome, ProviderResult | Accepted | ProviderError)
    if isinstance(outcome, ProviderResult | Accepted):
        assert 200 <= status < 300  # an error status never reads as success


@pytest.mark.parametrize(("name", "mode"), [adapter for adapter in ADAPTERS if adapter[1] != "sync"])
@FUZZ
@given(status=_statuses, headers=_headers, body=_bodies)
def test_any_poll_reply_ends_in_a_result_pending_or_a_classified_error(
    name: str, mode: str | None, status: int, headers: list[tuple[str, Any]], body: bytes
) -> None:
    outcome = _outcome(name, mode, _reply(status, headers, body), "poll")
    assert outcome is None or isinstance(outcome, ProviderResult | ProviderError)
    if isinstance(outcome, ProviderResult):
        assert outcome.outputs and all(o.data is not None or o.source_url for o in outcome.outputs)


@pytest.mark.parametrize("name", ["picsart.edit", "pixapi.edits", "fashn.edit"])
@FUZZ
@given(status=_statuses, headers=_headers, body=_image_bodies)
def test_any_output_download_ends_in_image_bytes_or_a_classified_error(
    name: str, status: int, headers: list[tuple[str, Any]], body: bytes
) -> None:
    outcome = _outcome(name, None, _reply(status, headers, body), "fetch")
    assert isinstance(outcome, OutputImage | ProviderError)
    if isinstance(outcome, OutputImage):
        assert status == 200 and outcome.data
