"""Keys stay out of messages: config errors never echo provider settings or key-like values, redaction
masks whole tokens only, and a literal key in a config file draws a warning naming the fix."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tasks.core.config import load_config, parse_config
from tasks.core.errors import AuthError, ConfigError, InvalidRequest
from tasks.core.secrets import LiteralSecretWarning
from tasks.pipeline.preflight import check_providers
from tasks.providers.registry import provider_class
from tests.helpers import local_config, make_catalog, write_config
from tests.providers.provider_kit import Wire, inputs, make_job, reply, run

KEY = "pk-Zq8xLw3nR7vT2bY9"


def _config(**providers: dict[str, Any]) -> dict[str, Any]:
    return {
        "catalog": {"uri": "catalog.parquet"},
        "edits": [{"name": "e", "provider": "picsart.edit"}],
        "providers": providers,
        "output": {"uri": "out"},
    }


@pytest.mark.parametrize(
    "field", ["apiKey", "API_KEY", "api_kye", "token", "secret", "password", "auth", "bearer", "Authorization", "key"]
)
def test_a_misspelt_key_field_under_a_provider_is_named_but_never_echoed(field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config(**{"picsart.edit": {field: KEY}}))
    message = str(info.value)
    assert f"providers.picsart.edit.{field}: unknown key" in message
    assert KEY not in message and "pk-" not in message


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ({"timeout": KEY}, KEY),  # a key pasted into the wrong field
        ({"rate_limit": KEY}, KEY),
        ({"options": KEY}, KEY),
        ({"retry": {"attempts": KEY}}, KEY),
    ],
)
def test_no_value_under_providers_is_ever_echoed(section: dict[str, Any], value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config(**{"fashn.edit": section}))
    assert "providers.fashn.edit." in str(info.value) and value not in str(info.value)


def test_key_like_names_anywhere_are_hidden_but_other_values_still_shown() -> None:
    raw = _config()
    raw["output"] = {"uri": "out", "format": "gif", "secret_access_key": KEY}
    raw["catalog"]["apiToken"] = KEY
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    message = str(info.value)
    assert KEY not in message
    assert "output.secret_access_key: unknown key" in message and "catalog.apiToken: unknown key" in message
    assert "output.format" in message and "(got 'gif')" in message  # ordinary mistakes keep their value


def test_an_adapter_option_error_does_not_echo_the_value() -> None:
    raw = _config(**{"fashn.edit": {"options": {"webhook_url": f"ftp://hooks.example.com/?token={KEY}"}}})
    raw["edits"] = [{"name": "e", "provider": "fashn.edit"}]
    with pytest.raises(ConfigError, match=r"fashn\.edit\.options\.webhook_url: use an http\(s\) URL") as info:
        check_providers(parse_config(raw), {"fashn.edit": "a-key"})  # what `retouch validate` and a run do first
    assert KEY not in str(info.value)


def test_the_cli_never_prints_a_misplaced_key(tmp_path: Path) -> None:
    raw = local_config(make_catalog(tmp_path, rows=1), tmp_path / "out")
    raw["providers"] = {"picsart.edit": {"apiKey": KEY}}
    result = CliRunner().invoke(app, ["validate", str(write_config(tmp_path, raw))])
    assert result.exit_code == 2 and "apiKey: unknown key" in result.output
    assert KEY not in result.output


@pytest.mark.parametrize("key", ["k", "e", "ab"])
def test_redaction_masks_the_key_as_a_whole_token_only(key: str) -> None:
    body = {"message": f"API key {key} is not valid; a key looks like pk-..."}
    job = make_job("picsart.edit")
    with pytest.raises(AuthError) as info:
        run(provider_class("picsart.edit"), Wire([reply(401, body)]), lambda a: a.submit(job, inputs()), key=key)
    message = str(info.value)
    assert "API key *** is not valid; a key looks like pk-..." in message  # the key gone, every other word whole


def test_a_key_echoed_inside_a_longer_message_is_masked(tmp_path: Path) -> None:
    body = {"error": {"message": f"key='{KEY}', header=Bearer {KEY}.", "type": "invalid_request_error"}}
    job = make_job("pixapi.edits", model="gpt-image-1.5")
    with pytest.raises(InvalidRequest) as info:
        run(provider_class("pixapi.edits"), Wire([reply(400, body)]), lambda a: a.submit(job, inputs()), key=KEY)
    assert KEY not in str(info.value) and "key='***', header=Bearer ***." in str(info.value)


def test_a_literal_key_in_yaml_draws_a_warning_naming_the_fix_not_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(**{"picsart.edit": {"api_key": KEY}})))
    with pytest.warns(LiteralSecretWarning) as caught:
        config = load_config(path)
    message = str(caught[0].message)
    assert "providers.picsart.edit.api_key holds a literal API key" in message
    assert "api_key_env: PICSART_EDIT_API_KEY" in message and "api_key_secret_block" in message
    assert KEY not in message
    assert config.provider_settings("picsart.edit").resolve_api_key() == KEY  # still works, with the warning


def test_a_key_from_the_environment_draws_no_warning(tmp_path: Path) -> None:
    raw = _config(**{"picsart.edit": {"api_key": "${PICSART_API_KEY}"}, "fashn.edit": {"api_key_env": "FASHN_KEY"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = parse_config(raw, env={"PICSART_API_KEY": KEY})
    assert config.provider_settings("picsart.edit").resolve_api_key() == KEY


def test_the_cli_shows_the_literal_key_warning(tmp_path: Path) -> None:
    raw = local_config(make_catalog(tmp_path, rows=1), tmp_path / "out")
    raw["providers"] = {"picsart.edit": {"api_key": KEY}}
    result = CliRunner().invoke(app, ["validate", str(write_config(tmp_path, raw))])
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert "warning:" in shown and "providers.picsart.edit.api_key holds a literal API key" in shown
    assert KEY not in result.output
