"""Thin Prefect task: prepare a run once (config, provider checks, keys, catalog pass, forecast)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from prefect import task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from tasks.core.config import PipelineConfig, load_config
from tasks.pipeline.plan import providers_in_use
from tasks.pipeline.prepared import PreparedRun, prepare_run
from tasks.pipeline.row_checks import RowChecker
from tasks.pipeline.shards import RetrySelection

__all__ = ["prepare", "prepare_config", "resolve_api_keys"]


def resolve_api_keys(config: PipelineConfig, providers: Iterable[str]) -> dict[str, str | None]:
    """Each provider's key from the config, its env var, or a Prefect Secret block (in that order)."""
    keys: dict[str, str | None] = {}
    for name in providers:
        settings = config.provider_settings(name)
        key = settings.resolve_api_key()
        if key is None and settings.api_key_secret_block:
            # Block.load is typed as sync-or-async; called from synchronous code it returns the block.
            block = cast(Secret[str], Secret.load(settings.api_key_secret_block))
            key = str(block.get())
        keys[name] = key
    return keys


def prepare_config(
    config_path: str,
    *,
    limit: int | None = None,
    force: bool = False,
    only_failed: RetrySelection | None = None,
    row_checker: RowChecker | None = None,
) -> PreparedRun:
    """Load the config at `config_path` and prepare its run; the CLI calls this before Prefect starts.

    Args:
        config_path: the YAML config.
        limit: plan only the first N catalog rows (overrides catalog.limit).
        force: plan jobs that already succeeded too.
        only_failed: plan only the unsuccessful jobs of earlier runs it admits (`--only-failed`).
        row_checker: looks at every job to run (see `prepare_run`).

    Raises:
        ConfigError / CatalogError / StorageError: see `prepare_run`; nothing has been sent.
    """
    config = load_config(config_path)
    keys = resolve_api_keys(config, providers_in_use(config))
    return prepare_run(
        config, keys, source=config_path, limit=limit, force=force, only_failed=only_failed, row_checker=row_checker
    )


# NO_CACHE: a cache key would hash the config (and its keys) and the catalog's state is not in it anyway.
@task(name="prepare", cache_policy=NO_CACHE)
def prepare(
    config_path: str, limit: int | None = None, force: bool = False, only_failed: RetrySelection | None = None
) -> PreparedRun:
    """`prepare_config` as a task of the flow that calls it (a deployment's run prepares itself)."""
    return prepare_config(config_path, limit=limit, force=force, only_failed=only_failed)
