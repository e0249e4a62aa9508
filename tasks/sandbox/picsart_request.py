"""Reading and validating a Picsart painting form (edit, outpaint): fields, image and mask sources."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from tasks.sandbox.files import base_url
from tasks.sandbox.forms import form_int, form_text, present, read_form
from tasks.sandbox.gate import Problem, Rejected
from tasks.sandbox.inputs import LoadError, image_size, load_reference
from tasks.sandbox.state import SandboxState

__all__ = ["DEFAULT_MODEL", "PicsartRequest", "Source", "read_picsart_request"]

DEFAULT_MODEL = "urn:air:sdxl:model:fluxai:flux_kontext_max-image-to-image@1"
FORMATS = ("JPG", "PNG", "WEBP")
MAX_URL = 2083
IMAGE_FIELDS = ("image", "image_url", "image_id")
# The live API's mask field names are unconfirmed (spec vs SDK and product page): both sets are accepted.
MASK_FIELDS = ("mask", "mask_url", "mask_id", "mask_image", "mask_image_url", "mask_image_id")
ANCHORS = (
    "left-top", "left-middle", "left-bottom", "center-top", "center-middle", "center-bottom",
    "right-top", "right-middle", "right-bottom", "pattern",
)  # fmt: skip
# Watermark integer fields (edit only): name -> (low, high); validated, then ignored.
WATERMARK_INTS = {
    "watermark_width": (1, None), "watermark_height": (1, None), "watermark_opacity": (0, 100),
    "watermark_angle": (0, 360), "watermark_padding_x": (0, None), "watermark_padding_y": (0, None),
}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """An input image: its bytes, what identifies it (bytes or URL/id text), and its size."""

    data: bytes
    ref: bytes | str
    size: tuple[int, int]


@dataclass(frozen=True)
class PicsartRequest:
    """A valid painting request."""

    operation: str
    prompt: str
    count: int
    format: str
    model: str | None
    mode: str | None
    image: Source
    mask: Source | None


@dataclass(frozen=True)
class _Fields:
    prompt: str
    count: int
    format: str
    model: str | None
    mode: str | None


async def read_picsart_request(request: Request, operation: str, state: SandboxState) -> PicsartRequest:
    """Read and validate the form of ``POST /painting/{operation}``.

    Raises:
        Rejected: 400 for a missing field or an unusable image, 422 for a bad value, 415 for a non-form body.
    """
    form = await read_form(request, state.settings.max_upload_bytes)
    try:
        fields = _fields(form, operation)
        image = await _source(form, IMAGE_FIELDS, request, state)
        mask = await _source(form, MASK_FIELDS, request, state) if operation == "outpaint" else None
    finally:
        await form.close()
    if image is None:
        raise Rejected(Problem.BAD_REQUEST, "one of image, image_url or image_id is required")
    if mask is not None and mask.size != image.size:
        raise Rejected(Problem.INVALID_VALUE, f"the mask is {_wh(mask.size)} but the image is {_wh(image.size)}")
    return PicsartRequest(operation, fields.prompt, fields.count, fields.format, fields.model, fields.mode, image, mask)


def _wh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _fields(form: FormData, operation: str) -> _Fields:
    prompt = form_text(form, "prompt")
    if prompt is None:
        raise Rejected(Problem.BAD_REQUEST, "prompt is required")
    image_format = (form_text(form, "format") or "JPG").upper()
    if image_format not in FORMATS:
        raise Rejected(Problem.INVALID_VALUE, f"format must be one of {', '.join(FORMATS)}")
    mode = form_text(form, "mode")
    if mode is not None and mode not in ("sync", "async"):
        raise Rejected(Problem.INVALID_VALUE, "mode must be sync or async")
    model = None
    if operation == "edit":
        model = _model(form)
        _watermark(form)
    count = form_int(form, "count", 2, 1, 10)
    return _Fields(prompt, count, image_format, model, mode)


def _model(form: FormData) -> str:
    # The documented list keeps growing; any AIR URN is accepted, anything else is not a model id.
    model = form_text(form, "model") or DEFAULT_MODEL
    if not model.startswith("urn:air:"):
        raise Rejected(Problem.INVALID_VALUE, f"model must be an AIR model URN such as {DEFAULT_MODEL}")
    return model


def _watermark(form: FormData) -> None:
    anchor = form_text(form, "watermark_anchor_point")
    if anchor is not None and anchor not in ANCHORS:
        raise Rejected(Problem.INVALID_VALUE, f"watermark_anchor_point must be one of {', '.join(ANCHORS)}")
    for name, (low, high) in WATERMARK_INTS.items():
        form_int(form, name, low, low, high)


async def _source(form: FormData, names: tuple[str, ...], request: Request, state: SandboxState) -> Source | None:
    given = [name for name in names if present(form.get(name))]
    if len(given) > 1:
        raise Rejected(Problem.BAD_REQUEST, f"send only one of {', '.join(names)}; got {', '.join(given)}")
    if not given:
        return None
    name, value = given[0], form[given[0]]
    if isinstance(value, UploadFile):
        if name.endswith(("_url", "_id")):
            raise Rejected(Problem.INVALID_VALUE, f"{name} must be a text field, not a file")
        data = await value.read()
        ref: bytes | str = data
    else:
        data, ref = await _by_reference(name, value.strip(), request, state), value.strip()
    size = image_size(data)
    if size is None:
        raise Rejected(Problem.BAD_REQUEST, f"{name} could not be decoded as an image (JPG, PNG, WEBP...)")
    return Source(data, ref, size)


async def _by_reference(name: str, value: str, request: Request, state: SandboxState) -> bytes:
    if name.endswith("_id"):
        stored = state.files.find("picsart", value)
        if stored is None:
            raise Rejected(Problem.BAD_REQUEST, f"{name} {value[:80]!r} is not a known image id")
        return stored.data
    if not name.endswith("_url"):
        raise Rejected(Problem.INVALID_VALUE, f"{name} must be a file; use {name}_url for a URL")
    if len(value) > MAX_URL:
        raise Rejected(Problem.INVALID_VALUE, f"{name} must be 1 to {MAX_URL} characters, got {len(value)}")
    try:
        return await load_reference(value, root=base_url(request), files=state.files, client=state.http)
    except LoadError as error:
        raise Rejected(Problem.BAD_REQUEST, f"{name}: {error}") from error
