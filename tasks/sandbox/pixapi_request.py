"""Reading and validating a Pixapi image edit: multipart (files or URL strings) or a JSON body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tasks.sandbox.files import base_url
from tasks.sandbox.forms import is_form, read_form
from tasks.sandbox.gate import Problem, Rejected
from tasks.sandbox.inputs import LoadError, image_size, load_reference
from tasks.sandbox.state import SandboxState

__all__ = ["ALIASES", "MODELS", "PixapiRequest", "read_pixapi_request"]

MODELS = ("gemini-2.5-flash-image", "gemini-3.1-flash-image-preview", "gemini-3-pro-image-preview", "gpt-image-1.5",
          "gpt-image-2")  # fmt: skip
ALIASES = {
    "nano-banana": "gemini-2.5-flash-image",
    "nano-banana-2": "gemini-3.1-flash-image-preview",
    "nano-banana-pro": "gemini-3-pro-image-preview",
}
QUALITIES = ("low", "medium", "high", "auto")
RESPONSE_FORMATS = ("url", "b64_json")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
# The max n and the largest size are unconfirmed; these bounds only stop absurd requests.
MAX_N = 10
MAX_SIDE = 8192


@dataclass(frozen=True)
class PixapiRequest:
    """A valid edit request; ``images[0]`` is edited, any others are references."""

    model: str
    prompt: str
    images: tuple[bytes, ...]
    refs: tuple[bytes | str, ...]
    n: int
    size: tuple[int, int] | None
    quality: str
    response_format: str
    output_format: str


async def read_pixapi_request(request: Request, state: SandboxState) -> PixapiRequest:
    """Read ``POST /v1/images/edits`` (or its async twin) from a form or a JSON body.

    Raises:
        Rejected: 400 for a missing or invalid field or an unusable image, 404 for an unknown model.
    """
    fields, images = await _read_body(request, state)
    model = _model(fields.get("model"))
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Rejected(Problem.BAD_REQUEST, "prompt is required")
    if not images:
        raise Rejected(Problem.BAD_REQUEST, "image is required: a file (image or image[]), a URL or a data URL")
    loaded = [await _load(value, request, state) for value in images]
    return PixapiRequest(
        model=model, prompt=prompt, images=tuple(data for data, _ in loaded), refs=tuple(ref for _, ref in loaded),
        n=_n(fields.get("n")), size=_size(fields.get("size")),
        quality=_choice(fields, "quality", QUALITIES, "auto"),
        response_format=_choice(fields, "response_format", RESPONSE_FORMATS, "url"),
        output_format=_choice(fields, "output_format", OUTPUT_FORMATS, "png"),
    )  # fmt: skip


async def _read_body(request: Request, state: SandboxState) -> tuple[dict[str, Any], list[bytes | str]]:
    """The non-image fields, and the images: uploaded bytes, or URL / data URL strings."""
    if not is_form(request):
        return _json_body(await request.body())
    form = await read_form(request, state.settings.max_upload_bytes)
    try:
        fields = {name: value for name, value in form.multi_items() if name not in ("image", "image[]")}
        images: list[bytes | str] = []
        for name, value in form.multi_items():
            if name in ("image", "image[]"):
                images.append(await value.read() if isinstance(value, UploadFile) else value)
    finally:
        await form.close()
    return fields, images


def _json_body(body: bytes) -> tuple[dict[str, Any], list[bytes | str]]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise Rejected(Problem.BAD_REQUEST, "the body must be multipart/form-data or a JSON object") from None
    if not isinstance(data, dict):
        raise Rejected(Problem.BAD_REQUEST, "the JSON body must be an object")
    image = data.pop("image", None)
    images = image if isinstance(image, list) else [] if image is None else [image]
    if not all(isinstance(item, str) for item in images):
        raise Rejected(Problem.BAD_REQUEST, "image must be a URL or a data URL string (or a list of them)")
    return data, images


async def _load(value: bytes | str, request: Request, state: SandboxState) -> tuple[bytes, bytes | str]:
    ref: bytes | str = value
    if isinstance(value, bytes):
        data = value
    else:
        try:
            data = await load_reference(value.strip(), root=base_url(request), files=state.files, client=state.http)
        except LoadError as error:
            raise Rejected(Problem.BAD_REQUEST, f"image: {error}") from error
    if image_size(data) is None:
        raise Rejected(Problem.BAD_REQUEST, "image could not be decoded as an image (PNG, JPEG, WEBP...)")
    return data, ref


def _model(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejected(Problem.BAD_REQUEST, "model is required")
    model = ALIASES.get(value.strip(), value.strip())
    if model not in MODELS:
        known = ", ".join([*MODELS, *ALIASES])
        raise Rejected(Problem.MODEL_NOT_FOUND, f"the model {value.strip()[:80]!r} does not exist; known: {known}")
    return model


def _n(value: object) -> int:
    if value is None or value == "":
        return 1
    n = -1
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value)
    if not 1 <= n <= MAX_N:
        raise Rejected(Problem.BAD_REQUEST, f"n must be an integer from 1 to {MAX_N}, got {value!r}")
    return n


def _size(value: object) -> tuple[int, int] | None:
    if value is None or value in ("", "auto"):
        return None
    width, _, height = str(value).lower().partition("x")
    if width.isdigit() and height.isdigit() and 1 <= int(width) <= MAX_SIDE and 1 <= int(height) <= MAX_SIDE:
        return int(width), int(height)
    raise Rejected(Problem.BAD_REQUEST, f"size must be auto or WIDTHxHEIGHT (e.g. 1024x1024), got {value!r}")


def _choice(fields: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise Rejected(Problem.BAD_REQUEST, f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)
