"""A refresh's gate: the catalog's version, "unchanged" against the last complete run, a busy output, the pin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from flows.edit_catalog import edit_catalog
from tasks.core.config import CatalogConfig, load_config
from tasks.core.errors import ConfigError
from tasks.pipeline.catalog_version import catalog_version
from tasks.pipeline.lease import OutputLease
from tasks.pipeline.manifest import read_manifest
from tasks.pipeline.refresh import RefreshSchedule, check_config_pin, config_digest, open_refresh
from tasks.storage.fs import Storage
from tests.helpers import local_config, make_catalog, write_config

EDITS = [{"name": "bright", "provider": "local", "seeds": [1]}]


def test_catalog_version_changes_with_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    pl.DataFrame({"id": ["a", "b"], "image": ["x.png"] * 2, "prompt": ["p"] * 2}).write_parquet(folder / "1.parquet")
    config = CatalogConfig(uri=str(folder))
    first = catalog_version(config)
    assert len(first.files) == 1 and first.files[0].token is not None and first.files[0].size > 0
    assert catalog_version(config) == first  # nothing written: the same version
    pl.DataFrame({"id": ["c"], "image": ["y.png"], "prompt": ["q"]}).write_parquet(folder / "2.parquet")
    (folder / "_SUCCESS").write_bytes(b"")  # skipped, as the catalog reader skips it
    second = catalog_version(config)
    assert not second.same_files(first) and len(second.files) == 2


def test_catalog_version_of_an_object_store_catalog_uses_its_info(tmp_path: Path) -> None:
    local = tmp_path / "c.parquet"
    pl.DataFrame({"id": ["a"], "image": ["x.png"], "prompt": ["p"]}).write_parquet(local)
    Storage("memory://refresh-version").write_bytes("catalog.parquet", local.read_bytes())
    version = catalog_version(CatalogConfig(uri="memory://refresh-version/catalog.parquet"))
    assert [item.size for item in version.files] == [local.stat().st_size] and version.files[0].token


@pytest.mark.usefixtures("prefect_harness")
def test_unchanged_after_a_complete_run_and_planned_again_after_a_failure(tmp_path: Path) -> None:
    make_catalog(tmp_path, rows=3)
    config_path = write_config(tmp_path, local_config(tmp_path / "catalog.parquet", tmp_path / "out", EDITS))
    config = load_config(config_path)
    assert open_refresh(config, "r0", wait=0, started_at=datetime.now(UTC)) is None  # no run yet: plan it
    edit_catalog(str(config_path))
    summary = open_refresh(config, "r1", wait=0, started_at=datetime.now(UTC))
    assert summary is not None and summary.unchanged and summary.planned == 0 and summary.skipped is None
    assert read_manifest(Storage(str(tmp_path / "out")), "r1") == summary  # the "unchanged" run is recorded
    assert open_refresh(config, "r2", wait=0, started_at=datetime.now(UTC)) is not None  # unchanged still

    (tmp_path / "images" / "item-1.png").write_bytes(b"not an image")  # that row's job fails
    pl.read_parquet(tmp_path / "catalog.parquet").with_columns(pl.lit("rotate 90").alias("instruction")).write_parquet(
        tmp_path / "catalog.parquet"
    )
    failed = edit_catalog(str(config_path))
    assert failed.counts.get("failed") == 1
    assert open_refresh(config, "r3", wait=0, started_at=datetime.now(UTC)) is None  # a failure is retried


@pytest.mark.usefixtures("prefect_harness")
def test_a_scheduled_run_finding_the_output_busy_ends_skipped_and_writes_nothing(tmp_path: Path) -> None:
    make_catalog(tmp_path, rows=1)
    config = write_config(tmp_path, local_config(tmp_path / "catalog.parquet", tmp_path / "out", EDITS))
    holder = OutputLease(Storage(str(tmp_path / "out")), "still-running")
    holder.acquire()
    try:
        state = edit_catalog(str(config), schedule=RefreshSchedule(cron="0 3 * * *", wait=0), return_state=True)
    finally:
        holder.release()
    summary = state.result()
    assert state.name == "Skipped" and "still-running" in (state.message or "")
    assert summary.skipped is not None and "still-running" in summary.skipped and summary.counts == {}
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == []  # no manifest, report or part


def test_a_config_edited_since_deploying_is_refused(tmp_path: Path) -> None:
    make_catalog(tmp_path, rows=1)
    path = write_config(tmp_path, local_config(tmp_path / "catalog.parquet", tmp_path / "out", EDITS))
    pinned = RefreshSchedule(cron="0 3 * * *", config_sha256=config_digest(path))
    check_config_pin(path, pinned.config_sha256)  # as deployed: fine
    path.write_text(path.read_text().replace("seeds:\n  - 1", "seeds:\n  - 2"))
    with pytest.raises(ConfigError, match=r"changed since it was deployed.*retouch deploy"):
        check_config_pin(path, pinned.config_sha256)
    check_config_pin(path, None)  # unpinned (a prefect.yaml without the hash) follows the file


def test_the_prefect_yaml_example_deploys_the_main_flow_with_valid_parameters() -> None:
    root = Path(__file__).parents[1]
    example = yaml.safe_load((root / "prefect.yaml").read_text())
    (deployment,) = example["deployments"]
    module, function = deployment["entrypoint"].split(":")
    assert (root / module).is_file() and function == "edit_catalog"
    parameters = deployment["parameters"]
    schedule = RefreshSchedule.model_validate(parameters["schedule"])
    assert schedule.cron == deployment["schedules"][0]["cron"]  # the forecast projects the cron that runs
    load_config(root / parameters["config_path"])  # the config it names is valid
