"""Reading and validating a FASHN ``/v1/run`` body for the ``edit`` model (400 BadRequest otherwise)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tasks.sandbox.gate import Problem, Rejected

__all__ = ["FashnRequest", "read_fashn_request"]

MAX_SEED = 2**32 - 1
# The union of the edit page's three versions and the SDK (providers.md "Sandbox:" note).
KNOWN_INPUTS = frozenset({
    "image", "prompt", "mask", "mask_image", "image_context", "resolution", "generation_mode", "num_images", "seed",
    "output_format", "return_base64",
})  # fmt: skip
RESOLUTIONS = ("1k", "2k", "4k")
MODES = ("fast", "balanced", "quality")
FORMATS = ("png", "jpeg")
# Unconfirmed: num_images' range (FASHN's other models allow 1..4) and generation_mode's default.
MAX_IMAGES = 4
DEFAULT_MODE = "balanced"


@dataclass(frozen=True)
class FashnRequest:
    """Valid ``inputs`` of an edit run; images stay references (URL or data URI) until the job loads them."""

    image: str
    prompt: str
    mask: str | None
    image_context: str | None
    resolution: str
    generation_mode: str
    num_images: int
    seed: int
    output_format: str
    return_base64: bool


def read_fashn_request(body: bytes, webhook_url: str | None) -> FashnRequest:
    """Validate a run body and its optional ``webhook_url`` query parameter.

    Raises:
        Rejected: BAD_REQUEST naming the bad field.
    """
    if webhook_url is not None and not _is_http_url(webhook_url):
        raise Rejected(Problem.BAD_REQUEST, "webhook_url must be an absolute http(s) URL")
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise Rejected(Problem.BAD_REQUEST, "the body must be JSON: {model_name, inputs}") from None
    if not isinstance(data, dict):
        raise Rejected(Problem.BAD_REQUEST, "the body must be a JSON object: {model_name, inputs}")
    if data.get("model_name") != "edit":
        got = data.get("model_name")
        raise Rejected(
            Problem.BAD_REQUEST, f"model_name must be 'edit' (the only model the sandbox serves), got {got!r}"
        )
    inputs = data.get("inputs")
    if not isinstance(inputs, dict):
        raise Rejected(Problem.BAD_REQUEST, "inputs must be an object")
    return _inputs(inputs)


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _inputs(inputs: dict[str, Any]) -> FashnRequest:
    unknown = sorted(set(inputs) - KNOWN_INPUTS)
    if unknown:
        # Strict on purpose: a misspelt input would otherwise be silently ignored.
        raise Rejected(Problem.BAD_REQUEST, f"unknown inputs {unknown}; known: {sorted(KNOWN_INPUTS)}")
    if inputs.get("mask") is not None and inputs.get("mask_image") is not None:
        raise Rejected(Problem.BAD_REQUEST, "send mask or mask_image, not both")
    return FashnRequest(
        image=_text(inputs, "image", required=True) or "",
        prompt=_text(inputs, "prompt", required=True) or "",
        mask=_text(inputs, "mask") or _text(inputs, "mask_image"),
        image_context=_text(inputs, "image_context"),
        resolution=_choice(inputs, "resolution", RESOLUTIONS, "1k"),
        generation_mode=_choice(inputs, "generation_mode", MODES, DEFAULT_MODE),
        num_images=_integer(inputs, "num_images", 1, 1, MAX_IMAGES),
        seed=_integer(inputs, "seed", 42, 0, MAX_SEED),
        output_format=_choice(inputs, "output_format", FORMATS, "png"),
        return_base64=_flag(inputs, "return_base64"),
    )


def _text(inputs: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = inputs.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Rejected(Problem.BAD_REQUEST, f"inputs.{name} is required and must be a non-empty string")
    return value.strip()


def _choice(inputs: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = inputs.get(name, default)
    if value not in allowed:
        raise Rejected(Problem.BAD_REQUEST, f"inputs.{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _integer(inputs: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = inputs.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Rejected(Problem.BAD_REQUEST, f"inputs.{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _flag(inputs: dict[str, Any], name: str) -> bool:
    value = inputs.get(name, False)
    if not isinstance(value, bool):
        raise Rejected(Problem.BAD_REQUEST, f"inputs.{name} must be true or false, got {value!r}")
    return value
