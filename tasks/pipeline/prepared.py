"""A run prepared once: the checked config, the catalog's row count and the forecast, from one catalog pass."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from tasks.core.config import PipelineConfig, config_hash
from tasks.core.models import EditJob
from tasks.costs import Forecast, PriceTable, forecast, load_price_table
from tasks.pipeline.catalog_version import CatalogVersion, catalog_version
from tasks.pipeline.chains import open_chains
from tasks.pipeline.checks import check_before_run
from tasks.pipeline.plan import providers_in_use
from tasks.pipeline.retry_forecast import FirstJobs, with_expected_retries
from tasks.pipeline.row_checks import RowChecker
from tasks.pipeline.shards import PlanCounts, Planner, RetrySelection, load_prior
from tasks.pipeline.tables import plan_results_schema
from tasks.storage.fs import Storage

__all__ = ["PreparedRun", "prepare_run"]


class PreparedRun(BaseModel):
    """Everything a run needs that can be checked before it starts, resolved once and passed down.

    It holds no API key in the clear: keys are checked while preparing and resolved again where requests
    are sent. Prefect stores a flow's parameters, so the JSON form of a prepared run masks what may be a
    credential (`api_key` is a SecretStr; storage options are masked) and leaves out the price table: it
    is for people to read, not to rebuild the run from.

    Attributes:
        config: the effective config (provider defaults merged at load).
        source: where the config came from (a path, or "<config>").
        config_hash: the config's content hash, recorded in the manifest.
        providers: the providers the edit variants use, sorted.
        limit: the row limit the run was prepared with (None: catalog.limit).
        force: whether jobs that already succeeded run again.
        only_failed: which unsuccessful jobs alone run again (`--only-failed`); None: every job not done.
        rows: catalog rows to edit (after the filter and limit), every one validated.
        plan: the plan's counts as forecast (the run counts again against the results table of its start).
        forecast: the cost and duration of the jobs to run.
        prices: the price table (shipped prices with the config's `pricing` on top).
        results_schema: the one schema every results part of this output is written with (the catalog's
            column types widened with the parts already there); a type no widening accepts fails preparing.
        catalog_version: the catalog's files, listed before the pass (so a change made during the pass shows
            as a change to the next refresh), and the rows the pass read; recorded in the manifest.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: PipelineConfig
    source: str
    config_hash: str
    providers: tuple[str, ...]
    limit: int | None
    force: bool
    only_failed: RetrySelection | None = None
    rows: int
    plan: PlanCounts
    forecast: Forecast
    prices: PriceTable = Field(exclude=True)
    results_schema: pa.Schema = Field(exclude=True)
    catalog_version: CatalogVersion | None = None

    @field_serializer("config", when_used="json")
    def _config_masked(self, config: PipelineConfig) -> dict[str, Any]:
        data = config.model_dump(mode="json")
        for section in ("catalog", "output"):
            data[section]["storage_options"] = dict.fromkeys(data[section]["storage_options"], "**********")
        return data

    @property
    def storage(self) -> Storage:
        """The run's output location."""
        return Storage(self.config.output.uri, self.config.output.storage_options)


def prepare_run(
    config: PipelineConfig,
    api_keys: Mapping[str, str | None],
    *,
    source: str = "<config>",
    limit: int | None = None,
    force: bool = False,
    only_failed: RetrySelection | None = None,
    at: date | None = None,
    row_checker: RowChecker | None = None,
) -> PreparedRun:
    """Check everything that can fail before work starts, and forecast, reading the catalog once.

    Args:
        config: the loaded config.
        api_keys: each used provider's key, resolved by the caller (only checked for presence here).
        source: where the config came from, for messages.
        limit: plan only the first N catalog rows (overrides catalog.limit).
        force: plan jobs that already succeeded too.
        only_failed: plan only the unsuccessful jobs of earlier runs it admits (`--only-failed`).
        at: the date whose prices apply (default: today, UTC).
        row_checker: looks at every job to run as the pass goes by (`retouch validate` names the jobs that
            would fail); None: no row checks.

    Raises:
        ConfigError: variants' params, providers' settings, keys or base URLs, prompt templates, or the
            pricing are invalid (every problem of these at once), or a job has no price (UnknownPrice); the
            message names the YAML paths.
        CatalogError: the catalog cannot be read or a row is invalid; the message names the rows.
        StorageError: output.uri cannot be written, or its results table cannot be read.
    """
    check_before_run(config, api_keys)
    prices = load_price_table(config.pricing)
    storage = Storage(config.output.uri, config.output.storage_options)
    results_schema = plan_results_schema(config, storage)  # reads the catalog's footer, not its rows
    version = catalog_version(config.catalog)  # before the pass: a change made during it is seen next time
    day = at or datetime.now(UTC).date()
    chains = None if force else open_chains(storage, config, prices, day)
    planner = Planner(config, load_prior(storage, force=force), limit=limit, only=only_failed, chains=chains)
    jobs = planner.jobs() if row_checker is None else row_checker.watch(planner.jobs(), config)
    seen = FirstJobs(jobs, config)
    estimate = with_expected_retries(_forecast(seen, config, prices, day), config, seen, prices, day, storage)
    return PreparedRun(
        config=config,
        source=source,
        config_hash=config_hash(config),
        providers=providers_in_use(config),
        limit=limit,
        force=force,
        only_failed=only_failed,
        rows=planner.rows,
        plan=planner.counts(),
        forecast=estimate,
        prices=prices,
        results_schema=results_schema,
        catalog_version=version.model_copy(update={"rows": planner.rows}),
    )


def _forecast(jobs: Iterable[EditJob], config: PipelineConfig, prices: PriceTable, at: date) -> Forecast:
    """Price exactly the jobs a run would send; calls no provider."""
    settings = {name: config.provider_settings(name) for name in providers_in_use(config)}
    in_flight = config.execution.concurrency * config.execution.parallel_shards
    return forecast(jobs, prices, settings, at, concurrency=in_flight)
