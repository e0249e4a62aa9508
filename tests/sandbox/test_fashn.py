"""FASHN ``edit`` contract over real HTTP: run, status lifecycle, webhooks, errors, credits, concurrency."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import BEARER, decode, fast_settings, ledger, make_png, pixels, poll

RUN = "/fashn/v1/run"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _run(client: httpx.Client, png: bytes, url: str = RUN, **inputs: Any) -> httpx.Response:
    body = {"model_name": "edit", "inputs": {"image": _data_uri(png), "prompt": "add a red scarf", **inputs}}
    return client.post(url, headers=BEARER, json=body)


def _finished(client: httpx.Client, prediction_id: str) -> httpx.Response:
    return poll(
        client, f"/fashn/v1/status/{prediction_id}", BEARER, lambda r: r.json()["status"] in ("completed", "failed")
    )


def _error(response: httpx.Response, status: int, name: str) -> str:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "message"} and response.json()["error"] == name
    return str(response.json()["message"])


def test_run_then_poll_to_completed(slow_client: httpx.Client, png: bytes) -> None:
    client = slow_client
    accepted = _run(client, png, num_images=2)

    assert accepted.status_code == 200
    prediction_id = accepted.json()["id"]
    assert accepted.json() == {"id": prediction_id, "error": None}
    early = client.get(f"/fashn/v1/status/{prediction_id}", headers=BEARER)
    assert early.json()["status"] in ("starting", "in_queue", "processing") and early.json()["output"] is None
    assert "x-fashn-credits-used" not in early.headers
    done = _finished(client, prediction_id)
    body = done.json()
    assert body["status"] == "completed" and body["error"] is None and len(body["output"]) == 2
    assert done.headers["x-fashn-credits-used"] == "2"
    outputs = [httpx.get(url).content for url in body["output"]]
    assert all(decode(out).format == "PNG" for out in outputs) and pixels(outputs[0]) != pixels(png)


def test_return_base64_and_jpeg(client: httpx.Client, png: bytes) -> None:
    prediction_id = _run(client, png, return_base64=True, output_format="jpeg").json()["id"]

    output = _finished(client, prediction_id).json()["output"][0]
    assert output.startswith("data:image/jpeg;base64,")
    assert decode(base64.b64decode(output.split(",", 1)[1])).format == "JPEG"


def test_same_seed_same_output_and_mask_is_used(client: httpx.Client, png: bytes) -> None:
    runs = [_run(client, png, seed=7, return_base64=True).json()["id"] for _ in range(2)]
    runs.append(_run(client, png, seed=8, return_base64=True).json()["id"])
    outputs = [_finished(client, run).json()["output"][0] for run in runs]
    assert outputs[0] == outputs[1] != outputs[2]

    masked = _run(client, png, mask=_data_uri(make_png()), image_context=_data_uri(png)).json()["id"]
    assert _finished(client, masked).json()["status"] == "completed"


def test_unloadable_image_fails_the_prediction_with_image_load_error(client: httpx.Client) -> None:
    body = {"model_name": "edit", "inputs": {"image": "data:image/png;base64,bm90IGFuIGltYWdl", "prompt": "x"}}
    prediction_id = client.post(RUN, headers=BEARER, json=body).json()["id"]

    done = _finished(client, prediction_id)
    assert done.status_code == 200
    assert done.json()["status"] == "failed" and done.json()["output"] is None
    assert done.json()["error"]["name"] == "ImageLoadError"
    assert done.headers["x-fashn-credits-used"] == "1"  # only PipelineError is not charged


@pytest.mark.parametrize(
    "inputs",
    [
        {"image": None},
        {"prompt": ""},
        {"resolution": "8k"},
        {"seed": 2**32},
        {"seed": -1},
        {"output_format": "webp"},
        {"num_images": 0},
        {"mask_url": "https://example.test/m.png"},
    ],
)
def test_bad_inputs_are_400_bad_request(client: httpx.Client, png: bytes, inputs: dict[str, Any]) -> None:
    body = {"model_name": "edit", "inputs": {"image": _data_uri(png), "prompt": "x", **inputs}}
    body["inputs"] = {key: value for key, value in body["inputs"].items() if value is not None}

    _error(client.post(RUN, headers=BEARER, json=body), 400, "BadRequest")
    assert ledger(client) == []


def test_bad_envelope_is_400(client: httpx.Client, png: bytes) -> None:
    _error(client.post(RUN, headers=BEARER, json={"model_name": "tryon-v1.6", "inputs": {}}), 400, "BadRequest")
    _error(client.post(RUN, headers=BEARER, content=b"not json"), 400, "BadRequest")
    _error(_run(client, png, url=f"{RUN}?webhook_url=not-a-url"), 400, "BadRequest")


def test_auth_and_unknown_id(client: httpx.Client, png: bytes) -> None:
    response = client.post(RUN, headers={"Authorization": "Bearer bad-key"}, json={})
    _error(response, 401, "UnauthorizedAccess")
    assert "bad-key" not in response.text
    _error(client.get("/fashn/v1/credits"), 401, "UnauthorizedAccess")
    _error(client.get("/fashn/v1/status/nope", headers=BEARER), 404, "NotFound")


def test_credits_endpoint_tracks_debits_by_resolution(client: httpx.Client, png: bytes) -> None:
    _run(client, png)
    _run(client, png, resolution="2k", num_images=2)

    total = 1_000_000 - 1 - 6  # 1k: 1 credit; 2k: 3 per image × 2
    credits = client.get("/fashn/v1/credits", headers=BEARER).json()
    assert credits == {"credits": {"total": total, "subscription": 0, "on_demand": total}}
    assert [entry["credits"] for entry in ledger(client)] == [1, 6]


def test_webhook_gets_the_final_payload_with_retries(server: SandboxServer, png: bytes) -> None:
    settings = fast_settings(fashn={"webhook_retry_delays": [0.02, 0.02]})
    with SandboxServer(settings) as hooked, httpx.Client(base_url=hooked.base_url) as client:
        sink = f"{hooked.base_url}/_sandbox/webhooks/run1"
        prediction_id = _run(client, png, url=f"{RUN}?webhook_url={sink}?fail=1").json()["id"]

        deliveries = poll(client, "/_sandbox/webhooks/run1", {}, lambda r: len(r.json()) >= 2).json()
        assert [delivery["status"] for delivery in deliveries] == [500, 200]
        payload = deliveries[1]["payload"]
        assert payload["id"] == prediction_id and payload["status"] == "completed" and payload["output"]


@pytest.fixture(scope="module")
def limited() -> Iterator[SandboxServer]:
    settings = fast_settings(
        fashn={"async_seconds": 2.0, "keys": {"sandbox-key": {}, "poor-key": {"credits": 1, "subscription": 2}}}
    )
    with SandboxServer(settings) as server:
        yield server


def test_concurrency_limit_of_six(limited: SandboxServer, png: bytes) -> None:
    with httpx.Client(base_url=limited.base_url) as client:
        client.post("/_sandbox/reset")
        assert all(_run(client, png).status_code == 200 for _ in range(6))
        seventh = _run(client, png)

        assert "6" in _error(seventh, 429, "ConcurrencyLimitExceeded")
        assert len(ledger(client)) == 6


def test_out_of_credits_is_429_and_subscription_is_spent_first(limited: SandboxServer, png: bytes) -> None:
    headers = {"Authorization": "Bearer poor-key"}
    with httpx.Client(base_url=limited.base_url, headers=headers) as client:
        client.post("/_sandbox/reset")
        body = {"model_name": "edit", "inputs": {"image": _data_uri(png), "prompt": "x", "num_images": 2}}
        assert client.post(RUN, json=body).status_code == 200
        assert client.get("/fashn/v1/credits").json() == {"credits": {"total": 1, "subscription": 0, "on_demand": 1}}

        _error(client.post(RUN, json=body), 429, "OutOfCredits")
