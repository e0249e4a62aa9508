"""Picsart GenAI painting contract over real HTTP: sync/async edit and outpaint, polls, errors, credits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tasks.sandbox import SandboxServer
from tests.sandbox.helpers import PICSART, decode, fast_settings, ledger, make_png, pixels, poll

EDIT = "/picsart/v1/painting/edit"
OUTPAINT = "/picsart/v1/painting/outpaint"


def _edit(client: httpx.Client, png: bytes, headers: dict[str, str] | None = None, **fields: str) -> httpx.Response:
    data = {"prompt": "put the bag on a beach", **fields}
    return client.post(
        EDIT, headers={**PICSART, **(headers or {})}, files={"image": ("a.png", png, "image/png")}, data=data
    )


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "detail"} and body["code"] == status
    return dict(body)


def test_sync_edit_returns_count_images_that_are_real_edits(client: httpx.Client, png: bytes) -> None:
    response = _edit(client, png)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and len(body["data"]) == 2  # count defaults to 2
    outputs = [httpx.get(item["url"]) for item in body["data"]]
    assert all(out.status_code == 200 and out.headers["content-type"] == "image/jpeg" for out in outputs)
    assert all(item["id"].endswith(".jpg") and item["url"].endswith(item["id"]) for item in body["data"])
    images = [decode(out.content) for out in outputs]
    assert all(image.size == (48, 32) and image.format == "JPEG" for image in images)
    assert pixels(outputs[0].content) != pixels(png)
    assert pixels(outputs[0].content) != pixels(outputs[1].content)  # each output has its own seed
    assert response.headers["x-picsart-credit-available"] == str(1_000_000 - 2)
    assert response.headers["x-picsart-correlation-id"]


def test_readable_prompt_and_format_are_honoured(client: httpx.Client, png: bytes) -> None:
    body = _edit(client, png, prompt="grayscale", count="1", format="PNG").json()

    image = decode(httpx.get(body["data"][0]["url"]).content)
    assert image.format == "PNG" and len(body["data"]) == 1
    red, green, blue = image.convert("RGB").split()
    assert red.tobytes() == green.tobytes() == blue.tobytes()


def test_prefer_respond_async_gives_202_then_poll(slow_client: httpx.Client, png: bytes) -> None:
    client = slow_client
    response = _edit(client, png, headers={"Prefer": "respond-async"}, count="1")

    assert response.status_code == 202
    assert response.headers["preference-applied"] == "respond-async"
    body = response.json()
    assert body["status"] == "processing" and body["inference_id"]
    url = f"/picsart/v1/painting/{body['inference_id']}"
    first = client.get(url, headers=PICSART)
    assert first.status_code == 202 and first.json() == {"status": "processing", "inference_id": body["inference_id"]}
    done = poll(client, url, PICSART, lambda r: r.status_code != 202)
    assert done.status_code == 200 and done.json()["status"] == "success" and len(done.json()["data"]) == 1


def test_deprecated_mode_async_and_prefer_wins(client: httpx.Client, png: bytes) -> None:
    by_mode = _edit(client, png, mode="async")
    assert by_mode.status_code == 202 and "preference-applied" not in by_mode.headers
    # Prefer wins over mode: "wait" without respond-async is a sync request here.
    assert _edit(client, png, headers={"Prefer": "wait=5"}, mode="async").status_code == 200


def test_sync_request_past_sync_max_seconds_gets_202() -> None:
    settings = fast_settings(picsart={"sync_seconds": 0.3, "sync_max_seconds": 0.02})
    with SandboxServer(settings) as server, httpx.Client(base_url=server.base_url) as client:
        response = _edit(client, make_png(), count="1")

        assert response.status_code == 202 and "preference-applied" not in response.headers
        url = f"/picsart/v1/painting/{response.json()['inference_id']}"
        assert poll(client, url, PICSART, lambda r: r.status_code == 200).json()["status"] == "success"


@pytest.mark.parametrize("names", [("mask", "image"), ("mask_image", "image")])
def test_outpaint_accepts_both_mask_field_sets(client: httpx.Client, png: bytes, names: tuple[str, str]) -> None:
    mask = make_png()
    files = {names[1]: ("a.png", png, "image/png"), names[0]: ("m.png", mask, "image/png")}
    response = client.post(OUTPAINT, headers=PICSART, files=files, data={"prompt": "extend the sky", "count": "1"})

    assert response.status_code == 200, response.text
    out = httpx.get(response.json()["data"][0]["url"]).content
    assert decode(out).size == (48, 32)


def test_outpaint_single_image_mode_and_mask_size_mismatch(client: httpx.Client, png: bytes) -> None:
    files = {"image": ("a.png", png, "image/png")}
    assert client.post(OUTPAINT, headers=PICSART, files=files, data={"prompt": "more"}).status_code == 200

    files["mask"] = ("m.png", make_png(20, 20), "image/png")
    body = _error(client.post(OUTPAINT, headers=PICSART, files=files, data={"prompt": "more"}), 422)
    assert "20x20" in str(body["detail"])


def test_image_by_url_and_by_id(client: httpx.Client, png: bytes) -> None:
    first = _edit(client, png, count="1").json()["data"][0]

    by_url = client.post(EDIT, headers=PICSART, data={"prompt": "sepia", "image_url": first["url"], "count": "1"})
    by_id = client.post(EDIT, headers=PICSART, data={"prompt": "sepia", "image_id": first["id"], "count": "1"})

    assert by_url.status_code == 200 and by_id.status_code == 200


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"count": "11"}, 422, "count"),
        ({"count": "0"}, 422, "count"),
        ({"count": "two"}, 422, "count"),
        ({"format": "GIF"}, 422, "format"),
        ({"mode": "auto"}, 422, "mode"),
        ({"model": "flux"}, 422, "model"),
        ({"watermark_opacity": "101"}, 422, "watermark_opacity"),
        ({"image_url": "https://example.test/x.png"}, 400, "only one"),
        ({"prompt": ""}, 400, "prompt"),
    ],
)
def test_validation_errors(client: httpx.Client, png: bytes, fields: dict[str, str], status: int, needle: str) -> None:
    body = _error(_edit(client, png, **fields), status)

    assert needle in str(body["detail"])
    assert ledger(client) == []


def test_missing_image_bad_url_and_undecodable_image(client: httpx.Client) -> None:
    assert "required" in str(_error(client.post(EDIT, headers=PICSART, data={"prompt": "x"}), 400)["detail"])
    long_url = "https://example.test/" + "a" * 2100
    _error(client.post(EDIT, headers=PICSART, data={"prompt": "x", "image_url": long_url}), 422)
    files = {"image": ("a.png", b"not an image", "image/png")}
    assert "decoded" in str(
        _error(client.post(EDIT, headers=PICSART, files=files, data={"prompt": "x"}), 400)["detail"]
    )
    _error(client.post(EDIT, headers=PICSART, json={"prompt": "x"}), 415)


def test_auth_failures(client: httpx.Client, png: bytes) -> None:
    for headers in ({}, {"X-Picsart-API-Key": "wrong-key"}):
        response = client.post(EDIT, headers=headers, files={"image": ("a.png", png)}, data={"prompt": "x"})
        body = _error(response, 401)
        assert "wrong-key" not in response.text and body["message"] == "Unauthorized"
    _error(client.get("/picsart/v1/balance"), 401)


def test_balance_endpoint_and_header_agree_with_debits(client: httpx.Client, png: bytes) -> None:
    _edit(client, png, count="3")
    outpaint = client.post(OUTPAINT, headers=PICSART, files={"image": ("a.png", png)}, data={"prompt": "x"})
    balance = client.get("/picsart/v1/balance", headers=PICSART)

    assert balance.json() == {"credits": 1_000_000 - 3 - 2}
    assert balance.headers["x-picsart-credit-available"] == str(1_000_000 - 5)
    assert outpaint.headers["x-picsart-credit-available"] == str(1_000_000 - 5)
    assert [entry["credits"] for entry in ledger(client)] == [3, 2]
    assert [entry["endpoint"] for entry in ledger(client)] == ["/v1/painting/edit", "/v1/painting/outpaint"]


def test_unknown_inference_id_is_404(client: httpx.Client) -> None:
    _error(client.get("/picsart/v1/painting/no-such-id", headers=PICSART), 404)


@pytest.fixture(scope="module")
def poor() -> Iterator[SandboxServer]:
    settings = fast_settings(picsart={"keys": {"poor-key": {"credits": 3}}, "prices": {"edit": 2, "outpaint": 1}})
    with SandboxServer(settings) as server:
        yield server


def test_out_of_credits_is_402_and_not_billed(poor: SandboxServer, png: bytes) -> None:
    headers = {"X-Picsart-API-Key": "poor-key"}
    with httpx.Client(base_url=poor.base_url) as client:
        assert _edit(client, png, headers=headers, count="1").status_code == 200  # 2 of 3 credits
        body = _error(_edit(client, png, headers=headers, count="1"), 402)

        assert "needs 2 credits" in str(body["detail"])
        assert client.get("/picsart/v1/balance", headers=headers).json() == {"credits": 1}
        assert len(ledger(client)) == 1
