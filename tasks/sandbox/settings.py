"""The sandbox's typed settings: keys and credits, prices, latency, limits and faults, per provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, TypeAlias

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError, field_validator, model_validator

from tasks.core.errors import ConfigError
from tasks.sandbox.fingerprints import key_fingerprint

__all__ = [
    "PROVIDERS",
    "FashnSettings",
    "FaultRates",
    "FaultSettings",
    "KeyRateLimitSettings",
    "KeySettings",
    "PicsartSettings",
    "PixapiSettings",
    "PriceRule",
    "ProviderName",
    "SandboxProviderSettings",
    "SandboxSettings",
    "load_sandbox_settings",
]

ProviderName: TypeAlias = Literal["picsart", "pixapi", "fashn"]
PROVIDERS: tuple[ProviderName, ...] = ("picsart", "pixapi", "fashn")

#: Credits per output image: a flat number, or by tier ("1k"/"2k"/"4k"), then by variant (quality or
#: generation_mode). Any level may hold a "default" entry for the names it does not list.
PriceRule: TypeAlias = NonNegativeInt | dict[str, NonNegativeInt | dict[str, NonNegativeInt]]

_DEFAULT_KEY = "sandbox-key"


def _prices(table: dict[str, Any]) -> dict[str, PriceRule]:
    """A default price table (typed for the checker; pydantic validates it like any other)."""
    return table


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeySettings(_Model):
    """One accepted API key and the credits it starts with."""

    credits: NonNegativeInt = Field(default=1_000_000, description="Starting credits (FASHN: the on-demand part).")
    subscription: NonNegativeInt = Field(
        default=0, description="FASHN only: subscription credits, spent before `credits`; other providers add it in."
    )


class KeyRateLimitSettings(_Model):
    """A token bucket: `per_second` requests on average, up to `burst` at once."""

    per_second: float = Field(gt=0, description="Refill rate, requests per second.")
    burst: int = Field(default=1, ge=1, description="Bucket size: requests allowed back to back.")


class FaultRates(_Model):
    """Probability per submitted job of each fault; at most one fault is drawn per request."""

    http_5xx: float = Field(default=0.0, ge=0, le=1, description="500/503 before anything is created; not billed.")
    http_429: float = Field(default=0.0, ge=0, le=1, description="A spurious rate-limit answer; not billed.")
    hang: float = Field(default=0.0, ge=0, le=1, description="Job accepted and billed; the reply waits hang_seconds.")
    malformed: float = Field(default=0.0, ge=0, le=1, description="Job billed; the reply is 200 with broken JSON.")
    truncated: float = Field(
        default=0.0, ge=0, le=1, description="Job billed; output images (or the JSON reply carrying them) cut short."
    )
    job_fail: float = Field(default=0.0, ge=0, le=1, description="The job ends failed (billing per provider rule).")
    output_404: float = Field(default=0.0, ge=0, le=1, description="Job billed and done; its output URLs answer 404.")
    # Bad outputs: billed and done, but unusable (what accept rules are for).
    blank: float = Field(default=0.0, ge=0, le=1, description="Job billed and done; every output is one flat grey.")
    unchanged: float = Field(default=0.0, ge=0, le=1, description="Job billed and done; the outputs are the source.")
    off_mask: float = Field(
        default=0.0, ge=0, le=1, description="Job billed and done; the outputs are inverted outside the mask."
    )

    @model_validator(mode="after")
    def _sum_at_most_one(self) -> Self:
        total = sum(self.rates().values())
        if total > 1 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:g}; they must add up to 1 or less")
        return self

    def rates(self) -> dict[str, float]:
        """Fault name -> probability, in the fixed order the seeded draw walks them."""
        return {name: getattr(self, name) for name in FaultRates.model_fields}


class FaultSettings(FaultRates):
    """Seeded fault injection (the pattern of dlt's config-driven `dummy` destination)."""

    seed: int = Field(default=0, description="Seeds every fault and latency draw: same seed, same sequence.")
    hang_seconds: float = Field(default=30.0, ge=0, description="How long a `hang` reply waits before answering.")
    on_reads: bool = Field(default=True, description="Also draw http_5xx/http_429 on polls and balance reads.")
    providers: dict[ProviderName, FaultRates] = Field(
        default_factory=dict, description="Per-provider rates replacing the rates above for that provider."
    )

    def rates_for(self, provider: ProviderName) -> FaultRates:
        """The rates that apply to one provider."""
        return self.providers.get(provider, self)


Latency: TypeAlias = float | tuple[float, float]


class SandboxProviderSettings(_Model):
    """Knobs every provider contract has."""

    keys: dict[str, KeySettings] = Field(
        default_factory=lambda: {_DEFAULT_KEY: KeySettings()}, description="Accepted API keys -> credits."
    )
    latency: Latency = Field(default=0.0, description="Seconds added to every request: fixed, or a seeded [min, max].")
    rate_limit: KeyRateLimitSettings | None = Field(default=None, description="Per-key request rate; None = unlimited.")
    concurrency: int | None = Field(default=None, ge=1, description="Jobs in flight per key; None = unlimited.")
    async_seconds: float = Field(default=0.5, ge=0, description="Processing time of an async job.")
    sync_seconds: float = Field(default=0.0, ge=0, description="Processing time of a job submitted synchronously.")
    output_ttl_seconds: float = Field(default=86_400.0, gt=0, description="How long outputs and finished jobs live.")
    retry_after_header: bool = Field(default=True, description="Send Retry-After on rate-limit 429s.")
    prices: dict[str, PriceRule] = Field(default_factory=dict, description="Credits per output image.")

    @field_validator("latency")
    @classmethod
    def _latency_range(cls, value: Latency) -> Latency:
        low, high = value if isinstance(value, tuple) else (value, value)
        if not 0 <= low <= high:
            raise ValueError(f"latency must be seconds >= 0 or [min, max] with 0 <= min <= max; got {value!r}")
        return value

    @property
    def default_key(self) -> str | None:
        """The first configured key (used by docs and the CLI banner), if any."""
        return next(iter(self.keys), None)


class PicsartSettings(SandboxProviderSettings):
    """Picsart GenAI (painting edit / outpaint)."""

    # Unconfirmed price: 1 credit per output image, settable per model URN or per operation.
    prices: dict[str, PriceRule] = Field(default_factory=lambda: _prices({"edit": 1, "outpaint": 1}))
    sync_max_seconds: float = Field(
        default=60.0, ge=0, description="A sync request still running after this many seconds gets a 202 instead."
    )


class PixapiSettings(SandboxProviderSettings):
    """Pixapi image edits (OpenAI-compatible gateway)."""

    prices: dict[str, PriceRule] = Field(
        default_factory=lambda: _prices(
            {
                "gemini-2.5-flash-image": 2,
                "gemini-3.1-flash-image-preview": 4,
                "gemini-3-pro-image-preview": {"1k": 8, "2k": 8, "4k": 16},
                "gpt-image-1.5": 1,
                "gpt-image-2": {
                    "1k": {"low": 1, "medium": 4, "high": 14},
                    "2k": {"low": 2, "medium": 17, "high": 67},
                    "4k": {"low": 4, "medium": 34, "high": 133},
                },
            }
        )
    )


class FashnSettings(SandboxProviderSettings):
    """FASHN `edit` via /v1/run."""

    concurrency: int | None = Field(default=6, ge=1, description="In-flight predictions per key (FASHN default 6).")
    output_ttl_seconds: float = Field(default=259_200.0, gt=0, description="CDN outputs live 72 h.")
    base64_ttl_seconds: float = Field(default=3_600.0, gt=0, description="return_base64 results live 60 min.")
    # The edit page's newest version charges more for larger resolutions; the matrix is unconfirmed.
    prices: dict[str, PriceRule] = Field(default_factory=lambda: _prices({"edit": {"1k": 1, "2k": 3, "4k": 5}}))
    webhook_retry_delays: list[float] = Field(
        default_factory=lambda: [5.0, 15.0, 30.0, 60.0, 180.0],
        description="Waits before each webhook retry (5 retries over about 5 minutes, as documented).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of one webhook POST.")


class SandboxSettings(_Model):
    """Everything the sandbox server can be told; every field has a default."""

    picsart: PicsartSettings = Field(default_factory=PicsartSettings)
    pixapi: PixapiSettings = Field(default_factory=PixapiSettings)
    fashn: FashnSettings = Field(default_factory=FashnSettings)
    faults: FaultSettings = Field(default_factory=FaultSettings)
    url_fetch_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout for fetching image URLs.")
    max_upload_bytes: int = Field(default=100 * 2**20, ge=1, description="Largest form field or file accepted.")
    max_stored_bytes: int = Field(
        default=2**30, ge=1, description="Output files kept in memory; past it the oldest are dropped (then 404)."
    )

    def provider(self, name: ProviderName) -> SandboxProviderSettings:
        """The settings of one provider."""
        settings: SandboxProviderSettings = getattr(self, name)
        return settings

    def public_dump(self) -> dict[str, Any]:
        """The settings as JSON, with each API key replaced by its fingerprint."""
        data = self.model_dump(mode="json")
        for name in PROVIDERS:
            keys = data[name].pop("keys")
            data[name]["keys"] = {key_fingerprint(key): value for key, value in keys.items()}
        return data


def load_sandbox_settings(path: str | Path) -> SandboxSettings:
    """Read and validate a sandbox settings YAML file (an empty file means all defaults).

    Args:
        path: the YAML file.

    Returns:
        The validated settings.

    Raises:
        ConfigError: the file cannot be read or parsed, or a value is invalid (the message names each
            bad key by its YAML path).
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read sandbox settings {str(path)!r}: {error}", path=str(path)) from error
    try:
        return SandboxSettings.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path)), path=str(path)) from error


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid sandbox settings in {source}:"]
    for item in error.errors():
        loc = list(item["loc"])
        if "keys" in loc:
            # API keys are the dict's keys: never echo one, and never the input that may hold several.
            index = loc.index("keys") + 1
            loc[index : index + 1] = ["<key>"] if index < len(loc) else []
            lines.append(f"  {'.'.join(map(str, loc))}: {item['msg']}")
            continue
        where = ".".join(map(str, loc)) or "<top level>"
        lines.append(f"  {where}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)
