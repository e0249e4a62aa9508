"""The shard task: never retried (a retry would re-send billed jobs), and where its API keys come from."""

from __future__ import annotations

import pytest

from tasks.core.config import parse_config
from tasks.edit import edit_shard


def test_the_shard_task_is_never_retried() -> None:
    # Storage faults are retried per write inside the shard; a shard retry would buy its jobs again.
    assert edit_shard.retries == 0 and edit_shard.retry_condition_fn is None


@pytest.mark.usefixtures("prefect_harness")
def test_api_keys_come_from_config_env_or_a_prefect_secret_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    from tasks.edit import resolve_api_keys

    Secret(value="sk-from-a-block").save("retouch-test-fashn-key", overwrite=True)
    monkeypatch.setenv("RETOUCH_TEST_PIXAPI_KEY", "sk-from-env")
    config = parse_config(
        {
            "catalog": {"uri": "c.parquet"},
            "edits": [{"name": "a", "provider": "local"}],
            "output": {"uri": "out"},
            "providers": {
                "fashn.edit": {"api_key_secret_block": "retouch-test-fashn-key"},
                "pixapi.edits": {"api_key_env": "RETOUCH_TEST_PIXAPI_KEY"},
                "picsart.edit": {"api_key": "sk-inline"},
            },
        }
    )
    keys = resolve_api_keys(config, ["fashn.edit", "pixapi.edits", "picsart.edit", "local"])
    assert keys == {
        "fashn.edit": "sk-from-a-block",
        "pixapi.edits": "sk-from-env",
        "picsart.edit": "sk-inline",
        "local": None,
    }
