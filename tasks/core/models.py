"""Frozen value types passed between retouch's steps: image references, jobs, provider results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Accepted",
    "EditJob",
    "EditResult",
    "ImageRef",
    "InputImage",
    "JobInputs",
    "JobStatus",
    "OutputImage",
    "ProviderResult",
    "StoredOutput",
]

ImageKind = Literal["path", "url", "data", "bytes"]
# unknown: a submit got no answer, so the job may exist (and be billed) at the provider.
JobStatus = Literal["succeeded", "failed", "skipped", "unknown"]


@dataclass(frozen=True)
class ImageRef:
    """Where a source image (or mask, or context image) comes from, without its bytes.

    `value` is a local path, an fsspec/HTTP URL, or a `data:` URI; for kind "bytes" the catalog held
    the bytes themselves and `value` is their sha256, with the bytes in `data`.
    `version` is an optional content version from the catalog (etag, mtime) that changes the job key.
    """

    kind: ImageKind
    value: str
    data: bytes | None = field(default=None, repr=False, compare=False)
    version: str | None = None

    @property
    def identity(self) -> str:
        """A stable string that changes when the referenced content changes (as far as we can tell)."""
        if self.kind == "data":
            return "sha256:" + hashlib.sha256(self.value.encode()).hexdigest()
        base = f"{self.kind}:{self.value}"
        return f"{base}@{self.version}" if self.version else base

    @property
    def display(self) -> str:
        """A short human-readable form for tables and messages (data URIs are never printed whole)."""
        if self.kind == "data":
            return self.value[:40] + "…"
        if self.kind == "bytes":
            return f"<bytes {self.value[:12]}>"
        return self.value


@dataclass(frozen=True)
class EditJob:
    """One unit of billable work: one catalog row × one variant × one seed.

    `params_json` is the canonical JSON of the variant's params (sorted keys), so jobs stay hashable.
    `extras_items` are the catalog row's pass-through columns as the catalog's own values (a date stays a
    date), shared by the row's jobs and written to its result rows; they are not part of the job's identity.
    """

    job_key: str
    row_id: str
    variant: str
    provider: str
    model: str | None
    prompt: str
    params_json: str
    seed: int | None
    count: int
    image: ImageRef
    mask: ImageRef | None = None
    image_context: ImageRef | None = None
    extras_items: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    # A regeneration or fallback (README "Quality"): its place in the chain and the key of the chain's first job.
    attempt: int = 1
    retry_of: str | None = None
    # What the chain's earlier runs spent (a re-run resumes it): counted against max_cost_per_accepted.
    chain_spent: float = field(default=0.0, compare=False)

    @property
    def params(self) -> dict[str, Any]:
        return dict(json.loads(self.params_json))

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.extras_items)


@dataclass(frozen=True)
class InputImage:
    """An input as handed to a provider adapter: bytes, a public URL, or both.

    `url` is set only for http(s) sources, which an adapter may pass on as a URL instead of uploading;
    `data` is set whenever the bytes were loaded (always for local files, s3://, data: URIs).
    """

    data: bytes | None
    media_type: str
    url: str | None = None
    filename: str = "image"

    def data_uri(self) -> str:
        """The bytes as a base64 `data:` URI (FASHN-style inline input)."""
        import base64

        if self.data is None:
            raise ValueError("no bytes loaded for this input; load it before inlining")
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


@dataclass(frozen=True)
class JobInputs:
    """The loaded inputs of one job."""

    image: InputImage
    mask: InputImage | None = None
    image_context: InputImage | None = None


@dataclass(frozen=True)
class OutputImage:
    """One image a provider produced: its bytes, or the URL to fetch them from (then `data` is None).

    Adapters return URLs unfetched: a failed download must be retried as a GET, never by re-submitting
    (which would bill again).
    """

    data: bytes | None
    format: str
    source_url: str | None = None


@dataclass(frozen=True)
class Accepted:
    """An async job the provider accepted but has not finished; made durable before the first poll."""

    provider: str
    provider_job_id: str
    request_id: str | None = None
    correlation_id: str | None = None
    credits_available: float | None = None
    detail_json: str = "{}"
    # Set once a run gave up polling this job and recorded its ledger row: resolving it later adds none.
    ledgered_credits: float | None = None


@dataclass(frozen=True)
class ProviderResult:
    """A finished provider call: its outputs plus what the provider told us about ids and credits."""

    outputs: tuple[OutputImage, ...]
    provider_job_id: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    credits_used: float | None = None
    credits_available: float | None = None
    rate_limit_json: str = "{}"


@dataclass(frozen=True)
class StoredOutput:
    """An output image written to storage."""

    index: int
    uri: str
    width: int
    height: int
    format: str
    bytes: int
    sha256: str
    # Quality scores by name (None where a score could not be computed), then the accept rules' verdict:
    # None when the variant has no rules; `rejected_by` names the failed rules.
    scores: tuple[tuple[str, float | bool | str | None], ...] = ()
    accepted: bool | None = None
    rejected_by: str | None = None


@dataclass(frozen=True)
class EditResult:
    """How one job ended. Flattened into one results row per output image (one row if none)."""

    job: EditJob
    status: JobStatus
    run_id: str
    outputs: tuple[StoredOutput, ...] = ()
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    provider_job_id: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    credits: float | None = None
    cost: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    billing_risk: bool = False
    # Whether the provider charged for the job, as far as the run could tell (an error after the provider
    # finished is billed, an error answer before anything was created is not); None: infer it from the
    # status and the price table. Only the cost ledger reads it.
    billed: bool | None = None
