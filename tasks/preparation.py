"""Prepare a run from its config file (config, provider keys, catalog pass, forecast) without Prefect's API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from tasks.core.config import PipelineConfig, load_config
from tasks.pipeline.plan import providers_in_use
from tasks.pipeline.prepared import PreparedRun, prepare_run
from tasks.pipeline.row_checks import RowChecker
from tasks.pipeline.shards import RetrySelection

if TYPE_CHECKING:
    from prefect.blocks.system import Secret

__all__ = ["prepare_config", "prepare_loaded", "resolve_api_keys"]


def resolve_api_keys(config: PipelineConfig, providers: Iterable[str]) -> dict[str, str | None]:
    """Each provider's key from the config, its env var, or a Prefect Secret block (in that order)."""
    keys: dict[str, str | None] = {}
    for name in providers:
        settings = config.provider_settings(name)
        key = settings.resolve_api_key()
        if key is None and settings.api_key_secret_block:
            # Imported here, for start-up time: importing Prefect costs ~0.7 s, and `validate`, `forecast` and
            # the planning half of `run` need it only for a config that keeps a key in a Secret block.
            from prefect.blocks.system import Secret

            # Block.load is typed as sync-or-async; called from synchronous code it returns the block.
            block = cast("Secret[str]", Secret.load(settings.api_key_secret_block))
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
    return prepare_loaded(
        config, source=config_path, limit=limit, force=force, only_failed=only_failed, row_checker=row_checker
    )


def prepare_loaded(
    config: PipelineConfig,
    *,
    source: str,
    limit: int | None = None,
    force: bool = False,
    only_failed: RetrySelection | None = None,
    row_checker: RowChecker | None = None,
) -> PreparedRun:
    """`prepare_config` for a config already loaded from the file `source` (`retouch run` starts Prefect's
    API between the two, so that it starts while the catalog is read and planned).

    Raises:
        CatalogError / StorageError / ConfigError: see `prepare_run`; nothing has been sent.
    """
    keys = resolve_api_keys(config, providers_in_use(config))
    return prepare_run(
        config, keys, source=source, limit=limit, force=force, only_failed=only_failed, row_checker=row_checker
    )
