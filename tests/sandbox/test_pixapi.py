"""Pixapi image edits contract over real HTTP: sync and task flows, input forms, errors, prices."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import BEARER, decode, fast_settings, ledger, make_png, pixels, poll

EDITS = "/pixapi/v1/images/edits"
ASYNC_EDITS = "/pixapi/v1/async/images/edits"


def _edit(client: httpx.Client, png: bytes, path: str = EDITS, **fields: str) -> httpx.Response:
    data = {"model": "gemini-2.5-flash-image", "prompt": "studio light", **fields}
    return client.post(path, headers=BEARER, files={"image": ("a.png", png, "image/png")}, data=data)


def _error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(response.json()) == {"error"} and error["code"] == status and error["type"] == kind
    return str(error["message"])


def test_sync_edit_returns_urls_of_real_edits(client: httpx.Client, png: bytes) -> None:
    body = _edit(client, png, n="2").json()

    assert set(body) == {"created", "data"} and isinstance(body["created"], int)
    assert len(body["data"]) == 2 and all(set(item) == {"url"} for item in body["data"])
    outputs = [httpx.get(item["url"]).content for item in body["data"]]
    assert all(decode(out).size == (48, 32) for out in outputs)
    assert pixels(outputs[0]) != pixels(png) and pixels(outputs[0]) != pixels(outputs[1])


def test_b64_json_response_format(client: httpx.Client, png: bytes) -> None:
    body = _edit(client, png, response_format="b64_json", output_format="webp").json()

    image = decode(base64.b64decode(body["data"][0]["b64_json"]))
    assert image.format == "WEBP" and image.size == (48, 32)


def test_size_resizes_the_output(client: httpx.Client, png: bytes) -> None:
    body = _edit(client, png, size="64x40", response_format="b64_json").json()

    assert decode(base64.b64decode(body["data"][0]["b64_json"])).size == (64, 40)


def test_async_task_lifecycle(slow_client: httpx.Client, png: bytes) -> None:
    client = slow_client
    accepted = _edit(client, png, path=ASYNC_EDITS)

    assert accepted.status_code == 200
    task_id = accepted.json()["id"]
    assert accepted.json() == {"id": task_id, "status": "queued"}
    url = f"/pixapi/v1/tasks/{task_id}"
    assert client.get(url, headers=BEARER).json()["status"] in ("queued", "processing")
    done = poll(client, url, BEARER, lambda r: r.json()["status"] in ("completed", "failed")).json()
    assert done["status"] == "completed" and done["id"] == task_id
    assert decode(httpx.get(done["data"][0]["url"]).content).size == (48, 32)


def test_unknown_task_and_sync_jobs_are_not_tasks(client: httpx.Client) -> None:
    _error(client.get("/pixapi/v1/tasks/task_nope", headers=BEARER), 404, "not_found")


def test_json_body_with_data_url_and_url(client: httpx.Client, png: bytes) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    first = client.post(EDITS, headers=BEARER, json={"model": "gpt-image-1.5", "prompt": "x", "image": data_url})
    assert first.status_code == 200, first.text

    url = first.json()["data"][0]["url"]
    second = client.post(
        EDITS, headers=BEARER, json={"model": "gpt-image-1.5", "prompt": "x", "image": [url, data_url]}
    )
    assert second.status_code == 200, second.text


def test_form_with_image_url_string_and_several_files(client: httpx.Client, png: bytes) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    as_text = client.post(EDITS, headers=BEARER, data={"model": "nano-banana", "prompt": "x", "image": data_url})
    files = [("image[]", ("a.png", png, "image/png")), ("image[]", ("b.png", make_png(20, 20), "image/png"))]
    several = client.post(EDITS, headers=BEARER, files=files, data={"model": "nano-banana-2", "prompt": "x"})

    assert as_text.status_code == 200 and several.status_code == 200
    assert [entry["credits"] for entry in ledger(client)] == [2, 4]  # aliases priced as their models


@pytest.mark.parametrize(
    ("fields", "status", "kind"),
    [
        ({"model": ""}, 400, "invalid_request_error"),
        ({"model": "dall-e-2"}, 404, "model_not_found"),
        ({"prompt": ""}, 400, "invalid_request_error"),
        ({"n": "0"}, 400, "invalid_request_error"),
        ({"size": "big"}, 400, "invalid_request_error"),
        ({"quality": "ultra"}, 400, "invalid_request_error"),
        ({"response_format": "png"}, 400, "invalid_request_error"),
    ],
)
def test_validation_errors(client: httpx.Client, png: bytes, fields: dict[str, str], status: int, kind: str) -> None:
    _error(_edit(client, png, **fields), status, kind)
    assert ledger(client) == []


def test_missing_and_undecodable_image(client: httpx.Client) -> None:
    no_image = client.post(EDITS, headers=BEARER, data={"model": "gpt-image-1.5", "prompt": "x"})
    assert "image is required" in _error(no_image, 400, "invalid_request_error")
    files = {"image": ("a.png", b"GIF89a-not-really", "image/png")}
    broken = client.post(EDITS, headers=BEARER, files=files, data={"model": "gpt-image-1.5", "prompt": "x"})
    assert "decoded" in _error(broken, 400, "invalid_request_error")


def test_auth_failures(client: httpx.Client, png: bytes) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-key"}, {"Authorization": "Basic sandbox-key"}):
        response = client.post(EDITS, headers=headers, files={"image": ("a.png", png)}, data={"model": "x"})
        _error(response, 401, "unauthorized")
        assert "nope-key" not in response.text


@pytest.mark.parametrize(
    ("model", "fields", "credits"),
    [
        ("gpt-image-2", {"n": "2"}, 2 * 14),  # quality auto is billed as high, size auto as 1K
        ("gpt-image-2", {"quality": "low", "size": "2048x1152"}, 2),
        ("gpt-image-2", {"quality": "medium", "size": "3840x2160"}, 34),
        ("gemini-3-pro-image-preview", {"size": "1024x1024"}, 8),
        ("nano-banana-pro", {"size": "3840x2160"}, 16),
        ("gemini-3.1-flash-image-preview", {}, 4),
        ("gpt-image-1.5", {"n": "3"}, 3),
    ],
)
def test_prices_per_model(client: httpx.Client, model: str, fields: dict[str, str], credits: int) -> None:
    tiny = make_png(8, 8)
    path = ASYNC_EDITS  # async: the (large) resized outputs are never waited for
    assert _edit(client, tiny, path=path, model=model, **fields).status_code == 200
    assert [entry["credits"] for entry in ledger(client)] == [credits]


@pytest.fixture(scope="module")
def poor() -> Iterator[SandboxServer]:
    with SandboxServer(fast_settings(pixapi={"keys": {"poor-key": {"credits": 3}}})) as server:
        yield server


def test_out_of_credits_is_402_insufficient_credits(poor: SandboxServer, png: bytes) -> None:
    with httpx.Client(base_url=poor.base_url, headers={"Authorization": "Bearer poor-key"}) as client:
        data = {"model": "gemini-2.5-flash-image", "prompt": "x"}
        assert client.post(EDITS, files={"image": ("a.png", png)}, data=data).status_code == 200
        response = client.post(EDITS, files={"image": ("a.png", png)}, data=data)

        _error(response, 402, "insufficient_credits")
        assert len(ledger(client)) == 1
