"""Sandbox settings: the shipped YAML, validation errors that name the key (never an API key), admin views."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tasks.core.errors import ConfigError
from tasks.sandbox import SandboxServer, SandboxSettings, load_sandbox_settings
from tasks.sandbox.fingerprints import key_fingerprint

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sandbox-server.yaml"


def test_shipped_yaml_holds_exactly_the_defaults() -> None:
    assert load_sandbox_settings(CONFIG) == SandboxSettings()


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_sandbox_settings(path) == SandboxSettings()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("picsart: {latency: [2, 1]}", "picsart.latency"),
        ("fashn: {concurrency: 0}", "fashn.concurrency"),
        ("pixapi: {rate_limit: {per_second: 0}}", "pixapi.rate_limit.per_second"),
        ("faults: {http_5xx: 0.6, hang: 0.6}", "faults"),
        ("faults: {http_5xx: 2}", "faults.http_5xx"),
        ("picsart: {colour: red}", "picsart.colour"),
    ],
)
def test_invalid_values_name_their_yaml_path(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load_sandbox_settings(path)


def test_errors_never_echo_an_api_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fashn: {keys: {sk-very-secret: {credits: -5}}}")
    with pytest.raises(ConfigError) as raised:
        load_sandbox_settings(path)
    assert "sk-very-secret" not in str(raised.value) and "fashn.keys.<key>.credits" in str(raised.value)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_sandbox_settings(tmp_path / "missing.yaml")


def test_admin_views_hide_keys(client: httpx.Client, server: SandboxServer) -> None:
    settings = client.get("/_sandbox/settings").json()
    balances = client.get("/_sandbox/balances").json()
    index = client.get("/").json()

    fingerprint = key_fingerprint("sandbox-key")
    assert list(settings["pixapi"]["keys"]) == [fingerprint] and "sandbox-key" not in str(settings)
    assert balances["fashn"][fingerprint] == {"total": 1_000_000, "subscription": 0, "on_demand": 1_000_000}
    assert index["base_urls"] == server.provider_urls
    assert server.provider_urls["picsart"] == f"{server.base_url}/picsart/v1"
    assert client.get("/_sandbox/faults").json()["seed"] == 0


def test_unknown_paths_get_each_providers_404(client: httpx.Client) -> None:
    picsart = client.post("/picsart/v1/painting/inpaint")
    pixapi = client.post("/pixapi/v1/images/generations")
    fashn = client.get("/fashn/v1/models")

    assert picsart.status_code == pixapi.status_code == fashn.status_code == 404
    assert picsart.json()["code"] == 404
    assert pixapi.json()["error"]["type"] == "not_found"
    assert fashn.json()["error"] == "NotFound"
