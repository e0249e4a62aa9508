"""retouch's one exception tree; retryability is decided by type, never by message text.

    RetouchError
    ├── ConfigError                 bad YAML / value: names the YAML path, value, expectation
    │   └── UnknownPrice            no price for a provider / model / options: says how to add one
    ├── CatalogError                bad catalog: names the column and the offending row ids
    ├── StorageError                reading or writing object storage failed
    │   ├── LeaseHeld               another run holds the output's lease: names holder, host, expiry
    │   └── LeaseLost               this run's lease was taken over (its heartbeat stalled past expiry)
    ├── InputError                  one job's input is unusable (permanent, per job)
    │   ├── SourceError             source image / mask could not be fetched or decoded
    │   │   └── SourceRefused       the source policy refused it: not allowed, internal address, over a cap
    │   └── InstructionError        the local engine cannot read the prompt
    ├── BudgetExceeded              spending would pass a configured cap
    ├── OrchestratorUnavailable     Prefect's API could not be started or reached: nothing was sent
    ├── FetchError                  a guarded HTTP fetch (source or output URL) failed; callers map it
    │   ├── FetchRefused            refused before or while reading: scheme, address, redirects, byte cap
    │   └── FetchFailed             no usable answer: transport error, deadline, HTTP status
    └── ProviderError               a provider answered with an error (or did not answer)
        ├── RetryableProviderError  transient: the same request may succeed later
        │   ├── RateLimited         429 rate limit (carries retry_after seconds)
        │   ├── ConcurrencyLimited  too many jobs in flight (FASHN 429 ConcurrencyLimitExceeded)
        │   ├── ProviderUnavailable 5xx, malformed body on a safe request
        │   │   ├── ProviderUnreachable no connection could be made (refused, DNS, connect timeout)
        │   │   └── MalformedReply  a 2xx answer whose body cannot be read (retried a bounded number of times)
        │   └── ProviderTimeout     no answer in time, or an async job passed its deadline
        ├── SubmitOutcomeUnknown    a submit got no readable answer: it may have been billed
        ├── LaneStopped             the provider's circuit breaker is open: nothing was sent
        └── PermanentProviderError  retrying the same request cannot help
            ├── AuthError           401/403: missing or bad key
            ├── InvalidRequest      400/404/413/415/422: bad field or value
            ├── InsufficientCredits 402 (Picsart, Pixapi) / 429 OutOfCredits (FASHN)
            ├── ContentRejected     moderation / policy rejection
            └── JobFailed           an accepted async job ended failed / canceled / expired

Every exception keeps its context as keyword fields, is picklable (Prefect moves them between threads
and processes), and never carries an API key. Each family declares the fields it carries, read as typed
attributes (None when not given); a name no family declares is a TypeError when raised and an
AttributeError when read, so a typo cannot pass silently:

    every error         attempts, billing_risk, stage, credits_used (set by the retry loop and the lane)
    ConfigError         path, source;  UnknownPrice adds provider, model, options
    CatalogError        column, rows, count
    StorageError        uri, column, spool;  LeaseHeld adds holder, host, pid, expires_at
    InputError          row_id, column, field;  SourceError adds source;  SourceRefused adds needed_bytes;
                        InstructionError adds prompt, step
    FetchError          url, status_code, timed_out
    ProviderError       provider, row_id, job_key, field, status_code, error_name, retry_after,
                        request_id, correlation_id, provider_job_id, status;  LaneStopped adds breaker
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast, overload

__all__ = [
    "AuthError",
    "BudgetExceeded",
    "CatalogError",
    "ConcurrencyLimited",
    "ConfigError",
    "ContentRejected",
    "ContextField",
    "FetchError",
    "FetchFailed",
    "FetchRefused",
    "InputError",
    "InstructionError",
    "InsufficientCredits",
    "InvalidRequest",
    "JobFailed",
    "LaneStopped",
    "LeaseHeld",
    "LeaseLost",
    "MalformedReply",
    "OrchestratorUnavailable",
    "PermanentProviderError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProviderUnreachable",
    "RateLimited",
    "RetouchError",
    "RetryableProviderError",
    "SourceError",
    "SourceRefused",
    "StorageError",
    "SubmitOutcomeUnknown",
    "UnknownPrice",
]


T = TypeVar("T")


class ContextField(Generic[T]):
    """One context field an error family carries, read (and set) as a typed attribute.

    The value lives in the error's `context` dict, so results and logs see every field in one place;
    reading a field the error was raised without gives None.
    """

    def __set_name__(self, owner: type[RetouchError], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[RetouchError]) -> ContextField[T]: ...

    @overload
    def __get__(self, instance: RetouchError, owner: type[RetouchError]) -> T | None: ...

    def __get__(self, instance: RetouchError | None, owner: type[RetouchError]) -> ContextField[T] | T | None:
        if instance is None:
            return self
        return cast("T | None", instance.context.get(self.name))

    def __set__(self, instance: RetouchError, value: T | None) -> None:
        if value is None:
            instance.context.pop(self.name, None)
        else:
            instance.context[self.name] = value


class RetouchError(Exception):
    """Base of every error retouch raises on purpose.

    Args:
        message: what went wrong and, where possible, what to do about it.
        **context: structured fields kept for results and logs; only those the family declares.

    Raises:
        TypeError: a context field this family does not declare (a typo, or a field of another family).
    """

    # How many calls were made before the error stood; set on the error the retry loop gives up on.
    attempts: ContextField[int] = ContextField()
    # True when a submit may have been billed before this error (the lane sets it).
    billing_risk: ContextField[bool] = ContextField()
    # How far the job got at the provider when this error ended it (a `costs.billing.Stage` value; the
    # lane sets it): what decides whether the job was charged.
    stage: ContextField[str] = ContextField()
    # The provider's charge for a job it finished before this error (the lane sets it on delivery failures).
    credits_used: ContextField[float] = ContextField()

    def __init__(self, message: str, **context: Any) -> None:
        unknown = sorted(set(context) - self.context_fields())
        if unknown:
            raise TypeError(
                f"{type(self).__name__} carries no context field {', '.join(map(repr, unknown))}; "
                f"it declares {', '.join(sorted(self.context_fields()))}"
            )
        super().__init__(message)
        self.message = message
        self.context = {key: value for key, value in context.items() if value is not None}

    @classmethod
    def context_fields(cls) -> frozenset[str]:
        """The names of the context fields this family carries (its own and its parents')."""
        return frozenset(
            name for klass in cls.__mro__ for name, value in vars(klass).items() if isinstance(value, ContextField)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.context))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[RetouchError], message: str, context: dict[str, Any]) -> RetouchError:
    error = cls.__new__(cls)
    RetouchError.__init__(error, message, **context)
    return error


class ConfigError(RetouchError):
    """The config is invalid; raised before anything is spent."""

    path: ContextField[str] = ContextField()  # the YAML path of the bad key, or the file that failed to load
    source: ContextField[str] = ContextField()  # the config file being read


class UnknownPrice(ConfigError):
    """The price table has no entry for a job's provider, model and options at the quoted date.

    Context: provider, model, options. Add the entry to `pricing:` in the config (or configs/pricing.yaml),
    or set `pricing: {allow_unknown: true}` to run with the cost shown as unknown.
    """

    provider: ContextField[str] = ContextField()
    model: ContextField[str] = ContextField()
    options: ContextField[dict[str, str | None]] = ContextField()  # the billed option values looked up


class CatalogError(RetouchError):
    """The catalog is missing a column or has bad rows."""

    column: ContextField[str] = ContextField()
    rows: ContextField[list[str]] = ContextField()  # the first offending row ids
    count: ContextField[int] = ContextField()  # how many rows offend


class StorageError(RetouchError):
    """Reading or writing storage failed."""

    uri: ContextField[str] = ContextField()
    column: ContextField[str] = ContextField()  # the table column at fault (a Parquet part's schema)
    spool: ContextField[str] = ContextField()  # the local folder holding paid-for outcomes storage refused


class LeaseHeld(StorageError):
    """Another run holds the output's lease: two writers would pay twice for the same jobs."""

    holder: ContextField[str] = ContextField()  # the holding run's id
    host: ContextField[str] = ContextField()
    pid: ContextField[int] = ContextField()
    expires_at: ContextField[float] = ContextField()  # epoch seconds, unless its heartbeat renews it


class LeaseLost(StorageError):
    """This run's lease on the output was taken over by another run; it must stop writing."""


class InputError(RetouchError):
    """One job's input cannot be used; the job fails, the run goes on."""

    row_id: ContextField[str] = ContextField()
    column: ContextField[str] = ContextField()  # the catalog column the input came from
    field: ContextField[str] = ContextField()  # the engine's name for it ("mask", "quality", ...)


class SourceError(InputError):
    """A source image or mask could not be fetched or decoded."""

    source: ContextField[str] = ContextField()  # the reference as messages show it (no query, no bytes)


class SourceRefused(SourceError):
    """The source policy refused a reference (not allowed, internal address, over a cap); nothing was decoded."""

    needed_bytes: ContextField[int] = ContextField()  # memory a job needed, when it passed the whole ceiling


class InstructionError(InputError):
    """The local engine could not read the prompt (the message lists the words it knows)."""

    prompt: ContextField[str] = ContextField()
    step: ContextField[str] = ContextField()  # the step's text as written


class BudgetExceeded(RetouchError):
    """Submitting more work would pass a configured budget cap."""


class OrchestratorUnavailable(RetouchError):
    """Prefect's API (the temporary one a command starts, or PREFECT_API_URL's) could not be used."""


class FetchError(RetouchError):
    """A guarded HTTP fetch failed. Callers map it into their own family."""

    url: ContextField[str] = ContextField()  # shortened: no credentials, no query
    status_code: ContextField[int] = ContextField()
    timed_out: ContextField[bool] = ContextField()  # the fetch's deadline passed


class FetchRefused(FetchError):
    """The fetch was refused by policy: a scheme, an internal address, too many redirects, a byte cap."""


class FetchFailed(FetchError):
    """No usable answer: a transport error, the deadline passed, or an HTTP status other than 200."""


class ProviderError(RetouchError):
    """A provider call failed."""

    provider: ContextField[str] = ContextField()
    row_id: ContextField[str] = ContextField()
    job_key: ContextField[str] = ContextField()
    field: ContextField[str] = ContextField()  # the request field at fault, when known
    status_code: ContextField[int] = ContextField()
    error_name: ContextField[str] = ContextField()  # the provider's documented error name
    retry_after: ContextField[float] = ContextField()  # seconds the provider asked us to wait
    request_id: ContextField[str] = ContextField()
    correlation_id: ContextField[str] = ContextField()
    provider_job_id: ContextField[str] = ContextField()
    status: ContextField[str] = ContextField()  # an async job's final status ("failed", "canceled", ...)


class RetryableProviderError(ProviderError):
    """Transient: the same request may succeed later."""


class RateLimited(RetryableProviderError):
    """The provider said too many requests; `retry_after` (seconds) when it said how long."""


class ConcurrencyLimited(RetryableProviderError):
    """Too many jobs in flight for this account."""


class ProviderUnavailable(RetryableProviderError):
    """The provider failed on its side (5xx, unreadable body)."""


class ProviderUnreachable(ProviderUnavailable):
    """No connection could be made (refused, DNS, connect timeout): nothing reached the provider."""


class MalformedReply(ProviderUnavailable):
    """The provider answered 2xx about a job with a body we cannot read (cut short, not JSON, no data).

    Retried like any outage, but only `retry.attempts` times: polling an unreadable job until its
    deadline would hold a run for minutes on a reply that is broken the same way each time.
    """


class ProviderTimeout(RetryableProviderError):
    """No answer in time, or an async job did not finish before its deadline."""


class SubmitOutcomeUnknown(ProviderError):
    """A submit got no readable answer: the job may exist and be billed. Never re-sent blindly."""


class LaneStopped(ProviderError):
    """The provider's circuit breaker is open (auth, credits or connection); the job was not sent.

    Neither retryable nor the job's fault: the job is recorded `skipped` and the next run sends it.
    """

    breaker: ContextField[str] = ContextField()  # which breaker: auth, credits or connection


class PermanentProviderError(ProviderError):
    """Retrying the same request cannot succeed."""


class AuthError(PermanentProviderError):
    """Missing or invalid API key."""


class InvalidRequest(PermanentProviderError):
    """The provider rejected a field or value."""


class InsufficientCredits(PermanentProviderError):
    """The account has no credits left."""


class ContentRejected(PermanentProviderError):
    """The prompt or image was rejected by moderation or policy."""


class JobFailed(PermanentProviderError):
    """An accepted async job ended without output."""
