"""Fault injection over real HTTP: each fault observable, billed or not as documented, and seeded."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import BEARER, PICSART, decode, fast_settings, ledger, poll

EDIT = "/picsart/v1/painting/edit"
PIXAPI = "/pixapi/v1/images/edits"
PIXAPI_ASYNC = "/pixapi/v1/async/images/edits"
RUN = "/fashn/v1/run"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(fast_settings(faults={"hang_seconds": 0.5})) as running:
        yield running


def _faults(client: httpx.Client, **faults: Any) -> None:
    response = client.put("/_sandbox/faults", json={"hang_seconds": 0.5, **faults})
    assert response.status_code == 200, response.text


def _picsart(client: httpx.Client, png: bytes, **headers: str) -> httpx.Response:
    files = {"image": ("a.png", png, "image/png")}
    return client.post(EDIT, headers={**PICSART, **headers}, files=files, data={"prompt": "x", "count": "1"})


def _pixapi(client: httpx.Client, png: bytes, path: str = PIXAPI, **fields: str) -> httpx.Response:
    data = {"model": "gpt-image-1.5", "prompt": "x", **fields}
    return client.post(path, headers=BEARER, files={"image": ("a.png", png, "image/png")}, data=data)


def _fashn(client: httpx.Client, png: bytes, **inputs: Any) -> httpx.Response:
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    return client.post(
        RUN, headers=BEARER, json={"model_name": "edit", "inputs": {"image": image, "prompt": "x", **inputs}}
    )


def _fashn_done(client: httpx.Client, prediction_id: str) -> httpx.Response:
    url = f"/fashn/v1/status/{prediction_id}"
    return poll(client, url, BEARER, lambda r: r.json()["status"] in ("completed", "failed"))


def test_http_5xx_answers_each_provider_shape_and_bills_nothing(client: httpx.Client, png: bytes) -> None:
    _faults(client, http_5xx=1.0)

    picsart, pixapi, fashn = _picsart(client, png), _pixapi(client, png), _fashn(client, png)
    assert picsart.status_code in (500, 503) and picsart.json()["code"] == picsart.status_code
    assert pixapi.status_code in (500, 503)
    assert pixapi.json()["error"]["type"] == {500: "internal_error", 503: "model_unavailable"}[pixapi.status_code]
    assert fashn.status_code == 500 and fashn.json()["error"] == "InternalServerError"
    assert ledger(client) == []
    assert client.get("/picsart/v1/balance", headers=PICSART).status_code in (500, 503)  # reads too
    assert client.get("/_sandbox/stats").json()["picsart"]["faults"]["http_5xx"] == 2


def test_http_429_is_a_rate_limit_answer_and_not_billed(client: httpx.Client, png: bytes) -> None:
    _faults(client, http_429=1.0, on_reads=False)

    picsart, pixapi, fashn = _picsart(client, png), _pixapi(client, png), _fashn(client, png)
    assert picsart.status_code == 429 and picsart.headers["retry-after"] == "1"
    assert pixapi.json()["error"]["type"] == "rate_limited"
    assert fashn.json()["error"] == "RateLimitExceeded"
    assert ledger(client) == []
    assert client.get("/picsart/v1/balance", headers=PICSART).status_code == 200  # on_reads: false


def test_hang_bills_then_outlasts_the_client_timeout(client: httpx.Client, png: bytes) -> None:
    _faults(client, hang=1.0)

    with pytest.raises(httpx.ReadTimeout):
        client.post(
            RUN, headers=BEARER, timeout=0.2, json={"model_name": "edit", "inputs": {"image": "x", "prompt": "x"}}
        )
    started = time.monotonic()
    assert _pixapi(client, png).status_code == 200  # a patient client gets the answer after hang_seconds
    assert time.monotonic() - started >= 0.45
    assert [entry["endpoint"] for entry in ledger(client)] == ["/v1/run", "/v1/images/edits"]


def test_malformed_bills_and_answers_broken_json(client: httpx.Client, png: bytes) -> None:
    _faults(client, malformed=1.0)

    for response in (_picsart(client, png), _pixapi(client, png, path=PIXAPI_ASYNC), _fashn(client, png)):
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        with pytest.raises(ValueError):
            response.json()
    assert len(ledger(client)) == 3


def test_truncated_images_and_replies(client: httpx.Client, png: bytes) -> None:
    _faults(client, truncated=1.0)

    url = _picsart(client, png).json()["data"][0]["url"]
    image = httpx.get(url)
    assert image.status_code == 200 and int(image.headers["content-length"]) == len(image.content)
    with pytest.raises(OSError):
        decode(image.content)
    with pytest.raises(httpx.RemoteProtocolError):
        _pixapi(client, png, response_format="b64_json")
    prediction_id = _fashn(client, png, return_base64=True).json()["id"]
    with pytest.raises(httpx.RemoteProtocolError):
        _fashn_done(client, prediction_id)
    assert len(ledger(client)) == 3


def test_output_404(client: httpx.Client, png: bytes) -> None:
    _faults(client, output_404=1.0)

    body = _picsart(client, png).json()
    assert body["status"] == "success" and httpx.get(body["data"][0]["url"]).status_code == 404
    assert len(ledger(client)) == 1


def test_job_fail_picsart_keeps_the_charge(client: httpx.Client, png: bytes) -> None:
    _faults(client, job_fail=1.0)

    inference_id = _picsart(client, png, Prefer="respond-async").json()["inference_id"]
    done = poll(client, f"/picsart/v1/painting/{inference_id}", PICSART, lambda r: r.status_code != 202)
    assert done.status_code == 200
    assert done.json()["status"] == "error" and done.json()["inference_id"] == inference_id
    assert _picsart(client, png).json()["status"] == "error"  # sync: the same body as the poll
    assert len(ledger(client)) == 2


def test_job_fail_pixapi_fails_the_task_and_refunds(client: httpx.Client, png: bytes) -> None:
    _faults(client, job_fail=1.0)

    task_id = _pixapi(client, png, path=PIXAPI_ASYNC).json()["id"]
    done = poll(client, f"/pixapi/v1/tasks/{task_id}", BEARER, lambda r: r.json()["status"] == "failed").json()
    assert set(done["error"]) == {"code", "type", "message"}
    assert done["error"]["type"] in ("internal_error", "prompt_rejected")
    sync = _pixapi(client, png)
    assert sync.status_code in (500, 422) and sync.json()["error"]["code"] == sync.status_code
    assert ledger(client) == [] and client.get("/_sandbox/ledger").json()["refunds"] == 2


def test_job_fail_fashn_refunds_only_pipeline_errors(client: httpx.Client, png: bytes) -> None:
    _faults(client, job_fail=1.0, seed=3)

    ids = [_fashn(client, png).json()["id"] for _ in range(6)]
    finished = {prediction_id: _fashn_done(client, prediction_id) for prediction_id in ids}
    names = {prediction_id: r.json()["error"]["name"] for prediction_id, r in finished.items()}
    assert set(names.values()) == {"PipelineError", "ImageLoadError"}
    billed = {entry["job_id"] for entry in ledger(client)}
    assert billed == {prediction_id for prediction_id, name in names.items() if name == "ImageLoadError"}
    used = {prediction_id: r.headers["x-fashn-credits-used"] for prediction_id, r in finished.items()}
    assert all(used[p] == ("0" if names[p] == "PipelineError" else "1") for p in ids)


def _sequence(client: httpx.Client, png: bytes, seed: int) -> list[int]:
    client.post("/_sandbox/reset")
    _faults(client, seed=seed, http_5xx=0.3, http_429=0.2)
    return [_picsart(client, png).status_code for _ in range(16)]


def test_same_seed_same_fault_sequence(client: httpx.Client, png: bytes) -> None:
    first, again, other = _sequence(client, png, 7), _sequence(client, png, 7), _sequence(client, png, 8)

    assert first == again
    assert first != other
    assert len(set(first)) >= 3  # successes, 429s and 5xx all occur


def test_provider_override_and_invalid_fault_settings(client: httpx.Client, png: bytes) -> None:
    _faults(client, providers={"fashn": {"http_5xx": 1.0}})
    assert _fashn(client, png).status_code == 500 and _picsart(client, png).status_code == 200

    response = client.put("/_sandbox/faults", json={"http_5xx": 0.7, "hang": 0.7})
    assert response.status_code == 422 and "add up to" in response.text


def test_latency_is_added_to_every_request() -> None:
    settings = fast_settings(fashn={"latency": 0.15}, pixapi={"latency": [0.05, 0.1]})
    with SandboxServer(settings) as server, httpx.Client(base_url=server.base_url, headers=BEARER) as client:
        started = time.monotonic()
        client.get("/fashn/v1/credits")
        client.get("/pixapi/v1/tasks/task_x")
        elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.0


def test_ledger_records_request_id_and_fingerprints(client: httpx.Client, png: bytes) -> None:
    _picsart(client, png, **{"X-Request-Id": "job-key-1"})
    _picsart(client, png, **{"X-Request-Id": "job-key-2"})
    _pixapi(client, png)

    entries = ledger(client)
    assert [entry["request_id"] for entry in entries] == ["job-key-1", "job-key-2", None]
    assert entries[0]["request_fingerprint"] == entries[1]["request_fingerprint"] != entries[2]["request_fingerprint"]
    assert entries[0]["job_id"] != entries[1]["job_id"]
    assert all(entry["key_fingerprint"] and "sandbox-key" not in str(entry) for entry in entries)
