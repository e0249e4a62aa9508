"""retouch's one exception tree; retryability is decided by type, never by message text.

    RetouchError
    ├── ConfigError                 bad YAML / value: names the YAML path, value, expectation
    │   └── UnknownPrice            no price for a provider / model / options: says how to add one
    ├── CatalogError                bad catalog: names the column and the offending row ids
    ├── StorageError                reading or writing object storage failed
    ├── InputError                  one job's input is unusable (permanent, per job)
    │   ├── SourceError             source image / mask could not be fetched or decoded
    │   └── InstructionError        the local engine cannot read the prompt
    ├── BudgetExceeded              spending would pass a configured cap
    └── ProviderError               a provider answered with an error (or did not answer)
        ├── RetryableProviderError  transient: the same request may succeed later
        │   ├── RateLimited         429 rate limit (carries retry_after seconds)
        │   ├── ConcurrencyLimited  too many jobs in flight (FASHN 429 ConcurrencyLimitExceeded)
        │   ├── ProviderUnavailable 5xx, connection refused, malformed body on a safe request
        │   │   └── MalformedReply  a 2xx answer whose body cannot be read (retried a bounded number of times)
        │   └── ProviderTimeout     no answer in time, or an async job passed its deadline
        ├── SubmitOutcomeUnknown    a submit got no readable answer: it may have been billed
        └── PermanentProviderError  retrying the same request cannot help
            ├── AuthError           401/403: missing or bad key
            ├── InvalidRequest      400/404/413/415/422: bad field or value
            ├── InsufficientCredits 402 (Picsart, Pixapi) / 429 OutOfCredits (FASHN)
            ├── ContentRejected     moderation / policy rejection
            └── JobFailed           an accepted async job ended failed / canceled / expired

Every exception keeps its context as keyword fields (provider, row_id, status_code, ...), is picklable
(Prefect moves them between threads and processes), and never carries an API key.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "BudgetExceeded",
    "CatalogError",
    "ConcurrencyLimited",
    "ConfigError",
    "ContentRejected",
    "InputError",
    "InstructionError",
    "InsufficientCredits",
    "InvalidRequest",
    "JobFailed",
    "MalformedReply",
    "PermanentProviderError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RetouchError",
    "RetryableProviderError",
    "SourceError",
    "StorageError",
    "SubmitOutcomeUnknown",
    "UnknownPrice",
]


class RetouchError(Exception):
    """Base of every error retouch raises on purpose.

    Args:
        message: what went wrong and, where possible, what to do about it.
        **context: structured fields (row_id, provider, status_code, ...) kept for results and logs.
    """

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {key: value for key, value in context.items() if value is not None}

    def __getattr__(self, name: str) -> Any:
        # Context fields read as attributes (err.status_code); absent ones are None, not AttributeError.
        if name.startswith("__") or name in ("message", "context"):
            raise AttributeError(name)
        return self.__dict__.get("context", {}).get(name)

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


class UnknownPrice(ConfigError):
    """The price table has no entry for a job's provider, model and options at the quoted date.

    Context: provider, model, options. Add the entry to `pricing:` in the config (or configs/pricing.yaml),
    or set `pricing: {allow_unknown: true}` to run with the cost shown as unknown.
    """


class CatalogError(RetouchError):
    """The catalog is missing a column or has bad rows."""


class StorageError(RetouchError):
    """Reading or writing storage failed."""


class InputError(RetouchError):
    """One job's input cannot be used; the job fails, the run goes on."""


class SourceError(InputError):
    """A source image or mask could not be fetched or decoded."""


class InstructionError(InputError):
    """The local engine could not read the prompt (the message lists the words it knows)."""


class BudgetExceeded(RetouchError):
    """Submitting more work would pass a configured budget cap."""


class ProviderError(RetouchError):
    """A provider call failed. Context: provider, status_code, error_name, request_id, retry_after."""


class RetryableProviderError(ProviderError):
    """Transient: the same request may succeed later."""


class RateLimited(RetryableProviderError):
    """The provider said too many requests; `retry_after` (seconds) when it said how long."""


class ConcurrencyLimited(RetryableProviderError):
    """Too many jobs in flight for this account."""


class ProviderUnavailable(RetryableProviderError):
    """The provider failed on its side (5xx, refused connection, unreadable body)."""


class MalformedReply(ProviderUnavailable):
    """The provider answered 2xx about a job with a body we cannot read (cut short, not JSON, no data).

    Retried like any outage, but only `retry.attempts` times: polling an unreadable job until its
    deadline would hold a run for minutes on a reply that is broken the same way each time.
    """


class ProviderTimeout(RetryableProviderError):
    """No answer in time, or an async job did not finish before its deadline."""


class SubmitOutcomeUnknown(ProviderError):
    """A submit got no readable answer: the job may exist and be billed. Never re-sent blindly."""


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
