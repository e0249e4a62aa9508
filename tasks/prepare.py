"""Thin Prefect task: prepare a run once (config, provider checks, keys, catalog pass, forecast)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.pipeline.prepared import PreparedRun
from tasks.pipeline.shards import RetrySelection
from tasks.preparation import prepare_config, resolve_api_keys

# prepare_config and resolve_api_keys live in tasks/preparation.py (no Prefect import, for the CLI's start-up
# time) and are named here too for the flows that import them from this module.
__all__ = ["prepare", "prepare_config", "resolve_api_keys"]


# NO_CACHE: a cache key would hash the config (and its keys) and the catalog's state is not in it anyway.
@task(name="prepare", cache_policy=NO_CACHE)
def prepare(
    config_path: str, limit: int | None = None, force: bool = False, only_failed: RetrySelection | None = None
) -> PreparedRun:
    """`prepare_config` as a task of the flow that calls it (a deployment's run prepares itself)."""
    return prepare_config(config_path, limit=limit, force=force, only_failed=only_failed)
