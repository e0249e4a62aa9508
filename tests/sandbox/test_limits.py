"""Server-side rate limits (429 with each provider's body and headers) and output expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import BEARER, PICSART, fast_settings, poll

SLOW_BUCKET = {"per_second": 0.01, "burst": 2}  # two requests, then ~100 s until the next token


@pytest.fixture(scope="module")
def limited() -> Iterator[SandboxServer]:
    settings = fast_settings(
        picsart={"rate_limit": SLOW_BUCKET}, pixapi={"rate_limit": SLOW_BUCKET}, fashn={"rate_limit": SLOW_BUCKET}
    )
    with SandboxServer(settings) as server:
        yield server


@pytest.fixture
def client(limited: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited.base_url) as http:
        http.post("/_sandbox/reset").raise_for_status()
        yield http


def test_picsart_rate_limit_headers_and_429(client: httpx.Client) -> None:
    first = client.get("/picsart/v1/balance", headers=PICSART)
    second = client.get("/picsart/v1/balance", headers=PICSART)
    third = client.get("/picsart/v1/balance", headers=PICSART)

    assert first.headers["x-picsart-ratelimit-limit"] == "2"
    assert [r.headers["x-picsart-ratelimit-available"] for r in (first, second)] == ["1", "0"]
    assert third.status_code == 429 and third.json()["code"] == 429
    assert int(third.headers["retry-after"]) >= 90
    assert int(third.headers["x-picsart-ratelimit-reset-time"]) > time.time() + 90
    assert third.headers["x-picsart-ratelimit-available"] == "0"


def test_pixapi_rate_limited(client: httpx.Client) -> None:
    responses = [client.get("/pixapi/v1/tasks/task_x", headers=BEARER) for _ in range(3)]

    assert [r.status_code for r in responses] == [404, 404, 429]
    assert responses[2].json()["error"]["type"] == "rate_limited" and responses[2].headers["retry-after"]


def test_fashn_rate_limit_exceeded_and_limits_are_per_key(client: httpx.Client) -> None:
    responses = [client.get("/fashn/v1/credits", headers=BEARER) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["error"] == "RateLimitExceeded"
    stats = client.get("/_sandbox/stats").json()
    assert stats["fashn"]["rate_limited"] == 1 and stats["fashn"]["requests"] == 3


class ManualClock:
    """A monotonic clock the test moves by hand (read by the server thread)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_outputs_and_jobs_expire_after_their_ttl(png: bytes) -> None:
    clock = ManualClock()
    settings = fast_settings(picsart={"output_ttl_seconds": 60}, fashn={"output_ttl_seconds": 60})
    with SandboxServer(settings, clock=clock) as server, httpx.Client(base_url=server.base_url) as client:
        files = {"image": ("a.png", png, "image/png")}
        body = client.post("/picsart/v1/painting/edit", headers=PICSART, files=files, data={"prompt": "x"}).json()
        run = {"model_name": "edit", "inputs": {"image": body["data"][0]["url"], "prompt": "x"}}
        prediction = client.post("/fashn/v1/run", headers=BEARER, json=run).json()["id"]
        status_url = f"/fashn/v1/status/{prediction}"
        output = poll(client, status_url, BEARER, lambda r: r.json()["status"] == "completed").json()["output"][0]
        assert httpx.get(body["data"][0]["url"]).status_code == 200

        clock.now += 61

        assert httpx.get(body["data"][0]["url"]).status_code == 404
        assert httpx.get(output).status_code == 404
        assert client.get(status_url, headers=BEARER).json()["error"] == "NotFound"
