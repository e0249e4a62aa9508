"""The config: YAML in, typed models out, and errors that name the YAML path, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.config import config_hash, load_config, parse_config
from tasks.core.errors import ConfigError
from tasks.core.secrets import LiteralSecretWarning
from tasks.pipeline.plan import check_variants
from tests.helpers import write_config


def minimal(**overrides: object) -> dict:
    base = {
        "catalog": {"uri": "catalog.parquet"},
        "edits": [{"name": "mono", "provider": "local", "prompt": "grayscale"}],
        "output": {"uri": "out"},
    }
    base.update(overrides)
    return base


def test_demo_config_loads_with_its_column_mapping() -> None:
    config = load_config(Path(__file__).parents[1] / "configs" / "demo.yaml")
    assert config.catalog.columns.id == "sku"
    assert [edit.name for edit in config.edits] == ["enhanced", "mono", "extended"]
    assert all(edit.seeds == [1, 2] for edit in config.edits)


def test_defaults_fill_in() -> None:
    config = parse_config(minimal())
    edit = config.edits[0]
    assert (edit.seeds, edit.count, edit.params) == ([0], 1, {})
    assert config.execution.shard_size == 250
    assert config.catalog.columns.prompt == "prompt"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"edits": [{"name": "a", "provider": "local", "sedes": [1]}]}, "edits[0].sedes", "unknown key"),
        ({"edits": [{"name": "a", "provider": "local", "seeds": [-1]}]}, "edits[0].seeds", "outside 0..4294967295"),
        ({"edits": [{"name": "a", "provider": "nope"}]}, "edits[0].provider", "known: fashn.edit, local"),
        ({"edits": [{"name": "a", "provider": "local", "count": 11}]}, "edits[0].count", "less than or equal to 10"),
        ({"edits": []}, "edits", "at least 1"),
        ({"output": {}}, "output.uri", "Field required"),
        ({"catalog": {"uri": "c", "limit": 0}}, "catalog.limit", "greater than or equal to 1"),
        ({"edits": [{"name": "a", "provider": "local", "prompt": "{prompt"}]}, "edits[0].prompt", "does not parse"),
    ],
)
def test_bad_values_name_the_yaml_path(change: dict, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(**change), source="pipeline.yaml")
    message = str(caught.value)
    assert "pipeline.yaml" in message and path in message and words in message


def test_duplicate_edit_names_are_rejected() -> None:
    edits = [{"name": "a", "provider": "local"}, {"name": "a", "provider": "local"}]
    with pytest.raises(ConfigError, match="repeated: a"):
        parse_config(minimal(edits=edits))


def test_env_references_resolve_and_a_missing_one_names_its_path() -> None:
    raw = minimal(output={"uri": "${OUT_ROOT}/run", "storage_options": {"key": "${KEY:-anon}"}})
    config = parse_config(raw, env={"OUT_ROOT": "s3://bucket"})
    assert config.output.uri == "s3://bucket/run"
    assert config.output.storage_options == {"key": "anon"}
    with pytest.raises(ConfigError, match=r"output\.uri: environment variable OUT_ROOT is not set"):
        parse_config(raw, env={})


def test_api_keys_stay_secret_in_dumps_hashes_and_errors() -> None:
    raw = minimal(providers={"fashn.edit": {"api_key": "sk-very-secret", "timeout": "soon"}})
    with pytest.raises(ConfigError) as caught, pytest.warns(LiteralSecretWarning):
        parse_config(raw)
    assert "sk-very-secret" not in str(caught.value)
    raw["providers"]["fashn.edit"]["timeout"] = 5
    with pytest.warns(LiteralSecretWarning, match=r"providers\.fashn\.edit\.api_key holds a literal API key"):
        config = parse_config(raw)
    assert "sk-very-secret" not in repr(config) and "sk-very-secret" not in config.model_dump_json()
    assert config.provider_settings("fashn.edit").resolve_api_key() == "sk-very-secret"
    with pytest.warns(LiteralSecretWarning):
        assert config_hash(config) == config_hash(parse_config(raw))


def test_unknown_provider_section_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown names \\['picsart'\\]"):
        parse_config(minimal(providers={"picsart": {}}))


def test_provider_params_are_checked_before_any_work() -> None:
    config = parse_config(minimal(edits=[{"name": "mono", "provider": "local", "params": {"quality": 300}}]))
    with pytest.raises(
        ConfigError, match=r"edits\[0\] \(mono, provider local\): quality 300 must be an integer 1..100"
    ):
        check_variants(config)


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("catalog: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    assert load_config(write_config(tmp_path, minimal())).output.uri == "out"


def test_provider_defaults_come_from_configs_and_merge_under_the_config() -> None:
    config = parse_config(minimal(providers={"fashn.edit": {"rate_limit": {"requests": 3}, "poll_interval": 0.5}}))
    fashn = config.provider_settings("fashn.edit")
    assert (fashn.rate_limit.requests, fashn.rate_limit.max_in_flight) == (3, 6)  # the documented 6 stays
    assert (fashn.poll_interval, fashn.poll_deadline) == (0.5, 300)
    picsart = config.provider_settings("picsart.edit")
    assert (picsart.rate_limit.requests, picsart.rate_limit.period) == (500, 60)
    assert config.provider_settings("local").rate_limit is None


def test_missing_key_and_bad_adapter_options_stop_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.prepare import prepare_config
    from tests.helpers import local_config, make_catalog

    monkeypatch.delenv("FASHN_TEST_KEY", raising=False)
    raw = local_config(make_catalog(tmp_path, rows=1), tmp_path / "out", [{"name": "f", "provider": "fashn.edit"}])
    raw["providers"] = {"fashn.edit": {"api_key_env": "FASHN_TEST_KEY"}}
    with pytest.raises(
        ConfigError, match=r"providers\.fashn\.edit: no API key; the environment variable FASHN_TEST_KEY"
    ):
        prepare_config(str(write_config(tmp_path, raw)))
    monkeypatch.setenv("FASHN_TEST_KEY", "k-123")
    raw["providers"]["fashn.edit"]["options"] = {"webhok_url": "x"}
    with pytest.raises(ConfigError, match=r"providers\.fashn\.edit\.options: unknown option\(s\) webhok_url"):
        prepare_config(str(write_config(tmp_path, raw)))
    raw["providers"]["fashn.edit"]["options"] = {}
    assert prepare_config(str(write_config(tmp_path, raw))).rows == 1
