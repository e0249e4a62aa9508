"""The declarative pipeline config: YAML in, validated pydantic models out, errors that name the YAML path."""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tasks.core.defaults import merge_defaults
from tasks.core.errors import ConfigError
from tasks.core.formats import ImageFormat
from tasks.core.quality_config import FallbackTarget, OnReject, parse_rules
from tasks.core.registry import known_providers
from tasks.core.scorers import BOOLEAN_SCORES, BUILT_IN_SCORES, known_scorers, rule_name_known
from tasks.core.secrets import literal_key_providers, secret_location, warn_literal_keys
from tasks.core.sources_config import SourcesConfig

__all__ = [
    "BudgetConfig",
    "CatalogConfig",
    "ColumnMapping",
    "EditVariant",
    "ExecutionConfig",
    "OutputConfig",
    "PipelineConfig",
    "ProviderSettings",
    "RateLimitSettings",
    "RetrySettings",
    "SourcesConfig",
    "config_hash",
    "load_config",
    "parse_config",
]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnMapping(_Strict):
    """Which catalog column plays which role, so a user's catalog needs no renaming."""

    id: str = Field("id", description="Unique row id column.")
    image: str = Field("image", description="Source image: path, URL, s3://, data: URI, or binary.")
    prompt: str = Field("prompt", description="Edit instruction column.")
    mask: str | None = Field(None, description="Optional mask image column.")
    image_context: str | None = Field(None, description="Optional reference image column.")
    image_version: str | None = Field(
        None, description="Optional content version (etag, mtime) of the image; a change re-edits the row."
    )


class CatalogConfig(_Strict):
    uri: str = Field(description="Parquet file, directory or glob: local path or any fsspec URL.")
    storage_options: dict[str, Any] = Field(default_factory=dict)
    columns: ColumnMapping = Field(default_factory=ColumnMapping)
    filter: str | None = Field(None, description="A SQL boolean expression over catalog columns.")
    limit: int | None = Field(None, ge=1, description="Edit only the first N rows (after the filter).")
    sources: SourcesConfig = Field(default_factory=SourcesConfig, description="What image references may read.")


class EditVariant(_Strict):
    """One named edit applied to every catalog row, once per seed."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    provider: str = Field(description="A registered provider name, e.g. local, picsart.edit.")
    model: str | None = None
    prompt: str = Field("{prompt}", description="Prompt template; {prompt} and {<column>} are filled per row.")
    params: dict[str, Any] = Field(default_factory=dict, description="Provider parameters, passed through.")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    count: int = Field(1, ge=1, le=10, description="Output images asked for per request.")
    # Quality (README "Quality"): rules on every output's scores, then regenerate or fall back within a cap.
    scorers: list[str] = Field(default_factory=list, description="Optional scorers to run besides the built-in ones.")
    accept: dict[str, Any] = Field(default_factory=dict, description='Accept rules, e.g. changed: ">= 0.02".')
    on_reject: OnReject = Field(default_factory=OnReject)
    fallback: list[FallbackTarget] = Field(default_factory=list, description="Providers to try next, in order.")
    max_cost_per_accepted: float | None = Field(
        None, ge=0, description="No further attempt for a row × seed once its spend would pass this (money)."
    )

    @field_validator("seeds")
    @classmethod
    def _seeds_in_range(cls, seeds: list[int]) -> list[int]:
        for seed in seeds:
            if not 0 <= seed <= 2**32 - 1:
                raise ValueError(f"seed {seed} is outside 0..4294967295")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds

    @field_validator("prompt")
    @classmethod
    def _template_parses(cls, template: str) -> str:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        except ValueError as error:
            raise ValueError(
                f"prompt template {template!r} does not parse ({error}); write {{{{ for a literal brace"
            ) from None
        if any(not name or not name.isidentifier() for name in fields):
            raise ValueError(f"prompt template {template!r}: placeholders must be column names like {{prompt}}")
        return template

    @field_validator("provider")
    @classmethod
    def _provider_known(cls, name: str) -> str:
        if name not in known_providers():
            raise ValueError(f"unknown provider {name!r}; known: {', '.join(known_providers())}")
        return name

    @field_validator("scorers")
    @classmethod
    def _scorers_known(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in known_scorers()]
        if unknown:
            raise ValueError(f"unknown scorers {unknown}; known: {', '.join(known_scorers())}")
        return names

    @field_validator("fallback")
    @classmethod
    def _fallback_known(cls, targets: list[FallbackTarget]) -> list[FallbackTarget]:
        for target in targets:
            if target.provider not in known_providers():
                raise ValueError(f"unknown provider {target.provider!r}; known: {', '.join(known_providers())}")
        return targets

    @field_validator("accept")
    @classmethod
    def _rules_parse(cls, rules: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        scorers = info.data.get("scorers") or []
        for rule in parse_rules(rules):
            if not rule_name_known(rule.name, scorers):
                raise ValueError(f"rule {rule.name!r} names no score; scores: {', '.join(_rule_names(scorers))}")
        return rules


class RateLimitSettings(_Strict):
    requests: float = Field(gt=0, description="Requests allowed per period.")
    period: float = Field(1.0, gt=0, description="Seconds.")
    max_in_flight: int | None = Field(None, ge=1)
    # Even spacing by default: a client burst lands on the server bunched by network jitter and costs
    # 429s; the server's own burst allowance is better left as slack.
    burst: int = Field(1, ge=1, description="Requests that may go back to back.")


class RetrySettings(_Strict):
    attempts: int = Field(5, ge=1, le=50)
    base: float = Field(0.5, ge=0)
    cap: float = Field(30.0, ge=0)
    jitter: float = Field(0.25, ge=0)
    total: float = Field(300.0, gt=0)


class ProviderSettings(_Strict):
    """Per-provider settings. Credentials: `api_key` (may be ${ENV}), `api_key_env`, or a Prefect Secret block."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    api_key_secret_block: str | None = Field(None, description="Name of a Prefect Secret block holding the key.")
    rate_limit: RateLimitSettings | None = None
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeout: float = Field(120.0, gt=0, description="Seconds for one HTTP request.")
    poll_interval: float = Field(2.0, gt=0, description="Seconds between polls of an async job.")
    poll_deadline: float = Field(600.0, gt=0, description="Seconds an async job may take before it is abandoned.")
    mode: Literal["sync", "async"] | None = Field(None, description="Provider-specific default when unset.")
    resubmit_unknown: bool = Field(False, description="Re-send a submit whose outcome is unknown (risks paying twice).")
    options: dict[str, Any] = Field(default_factory=dict, description="Adapter-specific options.")

    def resolve_api_key(self) -> str | None:
        """The key from `api_key` or `api_key_env` (Prefect blocks are resolved by the flow layer)."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class OutputConfig(_Strict):
    uri: str = Field(description="Where images, results/, runs/ are written: local path or fsspec URL.")
    storage_options: dict[str, Any] = Field(default_factory=dict)
    format: ImageFormat | None = Field(
        None, description="Store every output image in this format (converted if needed); unset keeps the provider's."
    )
    spool_dir: str | None = Field(
        None,
        description="Local folder keeping paid-for outputs while output.uri cannot be written (default: a folder "
        "under the user's cache dir, one per output.uri); the next run writes them instead of buying them again.",
    )
    # A failed write is retried for about a minute before the run stops: long enough for a throttled
    # bucket or a remounted disk, short enough that a dead one is reported while the operator is there.
    write_retry: RetrySettings = Field(
        default_factory=lambda: RetrySettings(attempts=6, base=1.0, cap=15.0, jitter=0.25, total=60.0),
        description="Retries of a failed write under output.uri (the job is never sent again).",
    )


class ProviderBudget(_Strict):
    max_credits: float | None = Field(None, ge=0)
    max_money: float | None = Field(None, ge=0)


class BudgetConfig(_Strict):
    max_credits: float | None = Field(None, ge=0, description="Cap on credits for one run.")
    max_money: float | None = Field(None, ge=0, description="Cap on money for one run.")
    per_provider: dict[str, ProviderBudget] = Field(default_factory=dict)
    on_forecast_over: Literal["stop", "proceed_to_cap"] = "stop"
    confirm_above: float | None = Field(
        0.0,
        ge=0,
        description="An interactive `retouch run` asks before spending more money than this (null: never asks).",
    )


class ExecutionConfig(_Strict):
    shard_size: int = Field(250, ge=1, le=100_000, description="Jobs per Prefect task.")
    concurrency: int = Field(16, ge=1, le=1024, description="Jobs in flight within one shard.")
    parallel_shards: int = Field(2, ge=1, le=16, description="Shards of one provider run at once.")
    checkpoint_seconds: float = Field(5.0, gt=0, description="Longest time a finished job waits to be made durable.")
    checkpoint_rows: int = Field(500, ge=1, description="Results buffered before a checkpoint is forced.")
    memory_mb: int | None = Field(
        None,
        ge=64,
        le=1_048_576,
        description="Ceiling on source bytes + decoded pixels in flight in one process; unset: a quarter "
        "of the machine's memory, 1024 to 16384 MB.",
    )
    runner: Literal["threads", "dask"] = Field(
        "threads", description="Where shards run: threads of this process, or a Dask cluster (prefect-dask)."
    )
    dask_address: str | None = Field(
        None,
        pattern=r"^(tcp|tls|ucx|ws|wss)://\S+$",
        description="A running Dask scheduler (tcp://host:8786); unset: a local cluster of worker processes.",
    )
    dask_workers: int = Field(2, ge=1, le=256, description="Worker processes of the local cluster (no dask_address).")

    @model_validator(mode="after")
    def _address_needs_dask(self) -> ExecutionConfig:
        if self.dask_address is not None and self.runner != "dask":
            raise ValueError(
                f"dask_address is set ({self.dask_address}) but runner is {self.runner!r}: set runner: dask"
            )
        return self


class PipelineConfig(_Strict):
    catalog: CatalogConfig
    edits: list[EditVariant] = Field(min_length=1)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    output: OutputConfig
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    pricing: dict[str, Any] = Field(default_factory=dict, description="Price table overrides (see costs).")

    @model_validator(mode="after")
    def _names_unique_and_providers_known(self) -> PipelineConfig:
        names = [edit.name for edit in self.edits]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"edit names must be unique; repeated: {', '.join(duplicates)}")
        unknown = sorted(set(self.providers) - set(known_providers()))
        if unknown:
            raise ValueError(f"providers has unknown names {unknown}; known: {', '.join(known_providers())}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _merge_provider_defaults(cls, data: Any) -> Any:
        """Resolve once: each known provider the config names gets its documented defaults under what it sets."""
        if not isinstance(data, dict) or not isinstance(data.get("providers", {}), dict):
            return data  # the field validators name what is wrong
        given: dict[str, Any] = data.get("providers") or {}
        edits: list[Any] = data["edits"] if isinstance(data.get("edits"), list) else []
        used = {str(edit.get("provider")) for edit in edits if isinstance(edit, dict)} | set(given)
        used |= {str(name) for name in _fallback_names(edits)}
        merged = dict(given)  # unknown names stay, for the validator to name
        for name in sorted(used & set(known_providers())):
            raw = given.get(name)
            if raw is None or isinstance(raw, dict):
                merged[name] = merge_defaults(name, raw)
        return {**data, "providers": merged}

    def provider_settings(self, name: str) -> ProviderSettings:
        """The provider's effective settings: merged at load for every provider the config names."""
        return self.providers.get(name) or ProviderSettings.model_validate(merge_defaults(name, None))


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> PipelineConfig:
    """Read, resolve ${ENV} references in, and validate a YAML config file.

    Raises:
        ConfigError: the file is missing or not YAML, an env var is unset, or a value is invalid;
            the message names the YAML path, the value and what was expected.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}", path=str(path)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}", path=str(path)) from None
    return parse_config(raw, source=str(path), env=env)


def parse_config(raw: Any, *, source: str = "<config>", env: dict[str, str] | None = None) -> PipelineConfig:
    """Validate an already-parsed YAML document (see `load_config`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    warn_literal_keys(literal_key_providers(raw, is_reference=_ENV_REF.fullmatch), source)
    resolved = _resolve_env(raw, env if env is not None else dict(os.environ), "")
    try:
        return PipelineConfig.model_validate(resolved)
    except ValidationError as error:
        raise ConfigError(_describe(error, source), source=source) from None


def config_hash(config: PipelineConfig) -> str:
    """A stable hash of the config's content (secrets excluded), recorded in run manifests."""
    payload = config.model_dump(mode="json", exclude={"providers": {"__all__": {"api_key"}}})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _fallback_names(edits: list[Any]) -> list[Any]:
    """The providers named under each variant's `fallback` (bare names or mappings), as written."""
    found: list[Any] = []
    for edit in edits:
        targets = edit.get("fallback") if isinstance(edit, dict) else None
        for target in targets if isinstance(targets, list) else []:
            found.append(target.get("provider") if isinstance(target, dict) else target)
    return found


def _rule_names(scorers: list[str]) -> list[str]:
    return [*BUILT_IN_SCORES, *(f"not_{name}" for name in BOOLEAN_SCORES), *scorers]


def _resolve_env(node: Any, env: dict[str, str], where: str) -> Any:
    if isinstance(node, dict):
        return {key: _resolve_env(value, env, f"{where}.{key}" if where else str(key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_env(value, env, f"{where}[{i}]") for i, value in enumerate(node)]
    if isinstance(node, str):
        return _ENV_REF.sub(lambda match: _env_value(match, env, where), node)
    return node


def _env_value(match: re.Match[str], env: dict[str, str], where: str) -> str:
    name, default = match.group(1), match.group(2)
    if name in env:
        return env[name]
    if default is not None:
        return default
    raise ConfigError(
        f"{where}: environment variable {name} is not set (referenced as ${{{name}}}); "
        f"set it or write ${{{name}:-default}}",
        path=where,
    )


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        where = _yaml_path(item["loc"])
        value = item.get("input")
        # Never echoed: values under providers.* or key-like names (however spelt), and whole sections.
        hidden = secret_location(item["loc"]) or item["type"] == "missing" or isinstance(value, dict | list)
        shown = "" if hidden else f" (got {value!r})"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling and where it sits"
        lines.append(f"  {where or '<top>'}: {message}{shown}")
    return "\n".join(lines)


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
