"""Reading form bodies and typed form fields, raising ``Rejected`` with the problem a provider reports."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from tasks.sandbox.gate import Problem, Rejected

__all__ = ["FORM_TYPES", "form_int", "form_text", "is_form", "present", "read_form"]

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def is_form(request: Request) -> bool:
    """Whether the body is multipart or url-encoded form data."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES


async def read_form(request: Request, max_bytes: int) -> FormData:
    """Parse the form (files and fields up to ``max_bytes`` each).

    Raises:
        Rejected: the body is not form data, or it cannot be parsed.
    """
    if not is_form(request):
        raise Rejected(Problem.UNSUPPORTED_MEDIA, "the body must be multipart/form-data")
    try:
        return await request.form(max_files=100, max_fields=1000, max_part_size=max_bytes)
    except (MultiPartException, HTTPException) as error:
        raise Rejected(Problem.BAD_REQUEST, f"the form could not be read: {getattr(error, 'detail', error)}") from error


def present(value: object) -> bool:
    """Whether a form value was really sent (a file, or a non-empty string)."""
    return isinstance(value, UploadFile) or (isinstance(value, str) and value.strip() != "")


def form_text(form: FormData, name: str) -> str | None:
    """A text field, stripped; None when absent or empty.

    Raises:
        Rejected: the field was sent as a file.
    """
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise Rejected(Problem.INVALID_VALUE, f"{name} must be a text field, not a file")
    return value.strip() if value is not None and value.strip() else None


def form_int(form: FormData, name: str, default: int, low: int, high: int | None) -> int:
    """An integer field within [low, high] (no upper bound when high is None).

    Raises:
        Rejected: not an integer, or out of range (INVALID_VALUE).
    """
    text = form_text(form, name)
    if text is None:
        return default
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
    try:
        value = int(text)
    except ValueError:
        raise Rejected(Problem.INVALID_VALUE, f"{name} must be an integer {bounds}, got {text[:40]!r}") from None
    if value < low or (high is not None and value > high):
        raise Rejected(Problem.INVALID_VALUE, f"{name} must be an integer {bounds}, got {value}")
    return value
