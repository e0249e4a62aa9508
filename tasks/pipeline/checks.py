"""Everything a run must pass before it sends anything, checked all at once so one message names every problem.

The CLI runs these before Prefect starts (`retouch validate` and `retouch run` alike): edit params,
provider settings and keys, base URLs, and an output that can be written. The catalog's rows and the
prompt templates filled from them are checked after, in the one pass that also forecasts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from tasks.core.config import PipelineConfig
from tasks.core.errors import CatalogError, ConfigError, RetouchError, StorageError
from tasks.pipeline.plan import check_variants, providers_in_use
from tasks.pipeline.preflight import check_providers
from tasks.providers.registry import provider_class
from tasks.storage.probe import check_writable

__all__ = ["check_base_urls", "check_before_run"]


def check_before_run(config: PipelineConfig, api_keys: Mapping[str, str | None]) -> None:
    """Run every check; raise once, naming every problem found.

    Raises:
        ConfigError / CatalogError / StorageError: the one problem found, as raised; or, when several
            were found, a ConfigError listing them all (each with its YAML path or URI).
    """
    checks: list[Callable[[], None]] = [
        lambda: check_variants(config),
        lambda: check_providers(config, api_keys),
        lambda: check_base_urls(config),
        lambda: check_writable(config.output.uri, config.output.storage_options),
    ]
    problems: list[RetouchError] = []
    for check in checks:
        try:
            check()
        except (ConfigError, CatalogError, StorageError) as error:
            problems.append(error)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        listed = "\n".join(f"  - {str(problem).replace(chr(10), chr(10) + '    ')}" for problem in problems)
        raise ConfigError(f"{len(problems)} problems stop this run before anything is sent:\n{listed}")


def check_base_urls(config: PipelineConfig) -> None:
    """Every remote provider in use has a well-formed http(s) base URL.

    Raises:
        ConfigError: naming `providers.<name>.base_url`, the value and what is expected.
    """
    for name in providers_in_use(config):
        adapter = provider_class(name)
        url = config.provider_settings(name).base_url or adapter.default_base_url
        if adapter.remote and (problem := _url_problem(url)):
            raise ConfigError(
                f"providers.{name}.base_url {url!r} {problem}; use a URL like https://api.example.com/v1",
                path=f"providers.{name}.base_url",
            )


def _url_problem(url: str) -> str | None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        return f"is not a URL ({error})"
    if parsed.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parsed.host:
        return "names no host"
    return None
