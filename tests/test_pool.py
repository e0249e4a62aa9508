"""Worker pools belong to the shards that lease them: shared while they overlap, shut down by the last one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tasks.core.config import parse_config
from tasks.core.errors import ConfigError
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.executor import run_shard
from tasks.pipeline.plan import plan_jobs
from tasks.pipeline.pool import WorkerPools
from tasks.providers.local import LocalProvider
from tasks.storage.fs import Storage
from tasks.storage.results import read_results
from tests.helpers import decode, local_config, make_catalog


def test_no_workers_means_threads() -> None:
    with WorkerPools().lease(0) as pool:
        assert pool is None


def test_overlapping_leases_share_one_pool_and_the_last_one_out_shuts_it_down() -> None:
    pools = WorkerPools()
    with pools.lease(1) as first:
        assert first is not None
        with pools.lease(1) as second:
            assert second is first and pools.in_use() == {1: 2}
        assert first.submit(os.getpid).result() != os.getpid()  # still open for the first lease
    with pytest.raises(RuntimeError):
        first.submit(os.getpid)  # shut down: no worker outlives its leases
    with pools.lease(1) as third:
        assert third is not None and third is not first  # a later shard starts a fresh pool


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="workers=-1"), WorkerPools().lease(-1):
        pass


def test_a_shard_edits_in_the_leased_worker_processes_and_returns_them(tmp_path: Path) -> None:
    yaml_config = local_config(
        make_catalog(tmp_path, rows=2), tmp_path / "out", providers={"local": {"options": {"workers": 2}}}
    )
    config = parse_config(yaml_config)
    jobs = [job for rows in iter_catalog(config.catalog) for job in plan_jobs(rows, config)]
    assert LocalProvider.worker_processes(config.provider_settings("local")) == 2
    pools = WorkerPools()
    summary = asyncio.run(run_shard(jobs, config, run_id="pooled", api_keys={}, pools=pools))
    assert summary.counts == {"succeeded": len(jobs)}
    results = read_results(Storage(config.output.uri))
    assert results.height == len(jobs)
    for uri in results["output_uri"].to_list():
        assert decode(uri).size == (48, 32)
    assert pools.in_use() == {}  # the shard returned its lease: no worker is left running


def test_a_bad_workers_option_is_a_config_error(tmp_path: Path) -> None:
    yaml_config = local_config(
        make_catalog(tmp_path, rows=1), tmp_path / "out", providers={"local": {"options": {"workers": -2}}}
    )
    config = parse_config(yaml_config)
    jobs = [job for rows in iter_catalog(config.catalog) for job in plan_jobs(rows, config)]
    with pytest.raises(ConfigError, match=r"providers\.local\.options\.workers=-2"):
        asyncio.run(run_shard(jobs, config, run_id="bad", api_keys={}, pools=WorkerPools()))
