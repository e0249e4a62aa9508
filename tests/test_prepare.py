"""Preparing a run once: keys, the checks, and the catalog's rows, plan counts and forecast from one pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.config import parse_config
from tasks.core.errors import CatalogError
from tasks.core.secrets import LiteralSecretWarning
from tasks.pipeline.shards import PlanCounts
from tasks.prepare import prepare_config, resolve_api_keys
from tests.helpers import local_config, make_catalog, write_config

KEY = "sk-prepare-test-4f1c"
STORAGE_SECRET = "storage-secret-77aa"
EDITS = [
    {"name": "as_written", "provider": "local", "seeds": [1, 2]},
    {"name": "gemini", "provider": "pixapi.edits", "model": "gemini-2.5-flash-image", "seeds": [1]},
]


def two_provider_config(tmp_path: Path, rows: int = 4) -> str:
    raw = local_config(make_catalog(tmp_path, rows=rows), tmp_path / "out", EDITS)
    raw["providers"] = {
        "pixapi.edits": {"api_key": "${RETOUCH_TEST_PREPARE_KEY:-" + KEY + "}", "base_url": "http://127.0.0.1:9/pixapi"}
    }
    raw["output"]["storage_options"] = {"secret": STORAGE_SECRET}  # as an object store's credentials would be
    return str(write_config(tmp_path, raw))


def test_one_pass_gives_the_rows_the_plan_and_the_forecast(tmp_path: Path) -> None:
    prepared = prepare_config(two_provider_config(tmp_path), limit=3)
    assert (prepared.rows, prepared.limit, prepared.force) == (3, 3, False)
    assert prepared.providers == ("local", "pixapi.edits")
    assert prepared.plan == PlanCounts(planned=9, to_run=9, new=9)
    assert prepared.forecast.jobs == 9
    assert {group.provider: group.jobs for group in prepared.forecast.groups} == {"local": 6, "pixapi.edits": 3}


def test_a_bad_row_stops_preparing_with_the_row_named(tmp_path: Path) -> None:
    raw = local_config(make_catalog(tmp_path, rows=3, prompts=["blur", "", "blur"]), tmp_path / "out")
    with pytest.raises(CatalogError, match=r"null or empty prompt.*S1"):
        prepare_config(str(write_config(tmp_path, raw)))


def test_the_prepared_run_keeps_no_key_where_prefect_stores_flow_parameters(tmp_path: Path) -> None:
    prepared = prepare_config(two_provider_config(tmp_path))
    stored = json.dumps(edit_catalog.serialize_parameters({"prepared": prepared}))
    assert KEY not in stored and KEY not in repr(prepared)
    assert STORAGE_SECRET not in stored and '"secret": "**********"' in stored
    assert '"rows": 4' in stored and '"to_run": 12' in stored  # the rest of it is stored as it is
    assert edit_catalog.validate_parameters({"prepared": prepared})["prepared"] is prepared


@pytest.mark.usefixtures("prefect_harness")
def test_api_keys_come_from_config_env_or_a_prefect_secret_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    Secret(value="sk-from-a-block").save("retouch-test-fashn-key", overwrite=True)
    monkeypatch.setenv("RETOUCH_TEST_PIXAPI_KEY", "sk-from-env")
    with pytest.warns(LiteralSecretWarning):  # picsart's inline key works, with a warning
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


@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_handed_a_prepared_run_keeps_its_limit_and_refuses_another(tmp_path: Path) -> None:
    config = write_config(tmp_path, local_config(make_catalog(tmp_path), tmp_path / "out"))
    prepared = prepare_config(str(config), limit=2)
    with pytest.raises(ValueError, match="prepared with limit=2, force=False"):
        edit_catalog(prepared=prepared, limit=3)
    assert not (tmp_path / "out").exists()
    summary = edit_catalog(prepared=prepared)
    assert (summary.planned, summary.counts) == (6, {"succeeded": 6})  # 2 rows × (2 seeds + 1 seed)
