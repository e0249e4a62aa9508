"""Turn a provider's output images into stored, hashed, measured files under `output.uri`."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from tasks.core.errors import ProviderUnavailable
from tasks.core.formats import EXTENSIONS, PILLOW_NAMES, ImageFormat, format_from_pillow, parse_format
from tasks.core.models import EditJob, OutputImage, StoredOutput
from tasks.storage.fs import Storage
from tasks.storage.layout import image_path

__all__ = ["PreparedOutput", "prepare_output", "store_output"]


@dataclass(frozen=True)
class PreparedOutput:
    """An output ready to write: its bytes, its key-derived path, and the description its row will carry."""

    relative: str
    data: bytes = field(repr=False)
    stored: StoredOutput


def prepare_output(
    storage: Storage, job: EditJob, index: int, output: OutputImage, convert_to: str | None
) -> PreparedOutput:
    """Verify the image decodes, convert it if asked, and describe it; writes nothing.

    Raises:
        ProviderUnavailable: the provider's bytes are not a decodable image (a truncated download).
    """
    assert output.data is not None, "outputs are fetched before they are stored"
    data, fmt = output.data, _normalise(output.format)
    try:
        # Reading the header is enough for the size; the bytes were checked when they were fetched.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            actual = format_from_pillow(image.format) or "png"
            if convert_to and _normalise(convert_to) != actual:
                data, fmt = _convert(image, _normalise(convert_to)), _normalise(convert_to)
            else:
                fmt = actual
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ProviderUnavailable(
            f"{job.provider} returned output {index} of row {job.row_id} that does not decode: {_reason(error)}",
            provider=job.provider,
            row_id=job.row_id,
        ) from None
    relative = image_path(job.variant, job.job_key, index, EXTENSIONS[fmt])
    stored = StoredOutput(
        index=index,
        uri=storage.url(relative),
        width=width,
        height=height,
        format=fmt,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return PreparedOutput(relative, data, stored)


def store_output(
    storage: Storage, job: EditJob, index: int, output: OutputImage, convert_to: str | None
) -> StoredOutput:
    """`prepare_output`, then write it atomically.

    Raises:
        ProviderUnavailable: the bytes do not decode.
        StorageError: the write failed.
    """
    prepared = prepare_output(storage, job, index, output, convert_to)
    storage.write_bytes(prepared.relative, prepared.data)
    return prepared.stored


def _reason(error: Exception) -> str:
    # Pillow's own message names the in-memory buffer ("<_io.BytesIO object at 0x…>"), which helps no one.
    return "not an image format Pillow can read" if isinstance(error, UnidentifiedImageError) else str(error)


def _normalise(fmt: str) -> ImageFormat:
    return parse_format(fmt.lstrip(".")) or "png"


def _convert(image: Image.Image, fmt: ImageFormat) -> bytes:
    if fmt == "jpeg" and image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = background
    buffer = io.BytesIO()
    image.save(buffer, format=PILLOW_NAMES[fmt])
    return buffer.getvalue()
