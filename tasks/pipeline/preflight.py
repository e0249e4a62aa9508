"""Checks that must pass before a run spends anything: provider settings and keys."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from tasks.core.config import PipelineConfig
from tasks.core.errors import ConfigError
from tasks.providers.registry import provider_class

__all__ = ["check_providers"]


def check_providers(config: PipelineConfig, api_keys: Mapping[str, str | None]) -> None:
    """Build each used adapter once (validating its options) and require a key for remote ones.

    Raises:
        ConfigError: naming `providers.<name>...` and what to set.
    """
    # A transport that refuses to send: building an adapter must never touch the network.
    offline = httpx.MockTransport(lambda request: httpx.Response(599))
    for name in sorted({edit.provider for edit in config.edits}):
        adapter_class = provider_class(name)
        if adapter_class.remote and not api_keys.get(name):
            raise ConfigError(_missing_key(name, config.provider_settings(name).api_key_env), path=f"providers.{name}")
        client = httpx.AsyncClient(transport=offline)
        adapter_class(settings=config.provider_settings(name), client=client, api_key=api_keys.get(name))


def _missing_key(provider: str, env_name: str | None) -> str:
    """What to do when a remote provider has no key, naming the variable when the config names one."""
    if env_name:
        return (
            f"providers.{provider}: no API key; the environment variable {env_name} (named by api_key_env) is "
            f"not set or empty: set it (export {env_name}=…), or give api_key: ${{ENV_VAR}} or "
            f"api_key_secret_block instead"
        )
    return (
        f"providers.{provider}: no API key; set api_key_env to the name of an environment variable that holds "
        f"it (or api_key: ${{ENV_VAR}}, or api_key_secret_block)"
    )
