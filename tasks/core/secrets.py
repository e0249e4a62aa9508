"""Keeping keys out of messages: which config names hold secrets, whole-token redaction, literal-key warnings."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "LiteralSecretWarning",
    "is_secret_name",
    "literal_key_providers",
    "redact_token",
    "secret_location",
    "warn_literal_keys",
]

# Fragments of names that hold credentials, matched on the name lowercased with everything but letters
# and digits removed, so apiKey, API_KEY, api-key and "api key" all read "apikey". "kye" catches the
# commonest transposition; other misspellings are covered because nothing under providers.* is echoed.
_SECRET_FRAGMENTS = ("key", "kye", "token", "secret", "passw", "pwd", "auth", "bearer", "credential", "signature")
# Characters that continue a token around a key: a key inside a longer word is not the key.
_TOKEN_CHAR = r"[A-Za-z0-9_\-]"


class LiteralSecretWarning(UserWarning):
    """A config file holds an API key as literal text (it belongs in the environment or a secret store)."""


def is_secret_name(name: str) -> bool:
    """True when a config key's name looks like it holds a credential, in any common spelling."""
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    return any(fragment in flat for fragment in _SECRET_FRAGMENTS)


def secret_location(loc: Sequence[int | str]) -> bool:
    """True when a value at this YAML location must never be echoed: anything under `providers`,
    or under any key whose name looks like a credential."""
    if loc and loc[0] == "providers":
        return True
    return any(isinstance(part, str) and is_secret_name(part) for part in loc)


def redact_token(text: str, secret: str | None) -> str:
    """`text` with each whole-token occurrence of `secret` replaced by `***`.

    A match inside a longer token is left alone, so a one-letter key does not mask every "k" of a
    message, while the key quoted, after `=`, or between spaces is masked.
    """
    if not secret:
        return text
    pattern = rf"(?<!{_TOKEN_CHAR}){re.escape(secret)}(?!{_TOKEN_CHAR})"
    return re.sub(pattern, "***", text)


def literal_key_providers(raw: Any, *, is_reference: Callable[[str], object]) -> list[str]:
    """Providers whose `providers.<name>.api_key` is written as literal text, not as a reference.

    Args:
        raw: the parsed YAML document, before references are resolved.
        is_reference: true for a value that is wholly a reference such as `${PICSART_API_KEY}`.
    """
    providers = raw.get("providers") if isinstance(raw, dict) else None
    if not isinstance(providers, dict):
        return []
    found = []
    for name, settings in providers.items():
        value = settings.get("api_key") if isinstance(settings, dict) else None
        if isinstance(value, str) and value and not is_reference(value.strip()):
            found.append(str(name))
    return found


def warn_literal_keys(providers: Sequence[str], source: str) -> None:
    """Warn (LiteralSecretWarning) about each provider's literal key; the message names the path, never the key."""
    for name in providers:
        path = f"providers.{name}.api_key"
        variable = re.sub(r"[^A-Z0-9]+", "_", name.upper()) + "_API_KEY"
        warnings.warn(
            LiteralSecretWarning(
                f"{source}: {path} holds a literal API key; a config file is easily shared or committed. "
                f"Put the key in an environment variable and set providers.{name}.api_key_env: {variable} "
                f"(or api_key: ${{{variable}}}), or store it in a Prefect Secret block named by "
                f"providers.{name}.api_key_secret_block."
            ),
            stacklevel=3,
        )
