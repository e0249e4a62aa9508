"""The gallery as one PNG, for places that cannot show HTML: a row per sampled catalog row, source first."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from tasks.reports.gallery import GalleryCell, GalleryRow
from tasks.reports.thumbnails import Thumb

__all__ = ["contact_sheet_png"]

_THUMB = 128  # pixels of a thumbnail's longer side on the sheet
_PAD = 8
_TEXT = 3 * 12  # three lines of Pillow's default 11 px font
_CELL_W = _THUMB + 2 * _PAD
_CELL_H = _THUMB + _TEXT + 2 * _PAD
_CHARS = 22  # characters of a label that fit a cell's width
_BACKGROUND = (250, 250, 250)
_INK = (40, 40, 40)
_MISSING = (225, 225, 225)


def contact_sheet_png(rows: Sequence[GalleryRow], *, title: str) -> bytes:
    """The gallery's rows as a PNG grid: the source, then each output with its variant, provider and seed.

    Thumbnails are decoded one at a time and pasted, so memory is the sheet plus one thumbnail.
    """
    columns = 1 + max((len(row.cells) for row in rows), default=0)
    sheet = Image.new("RGB", (columns * _CELL_W, 24 + max(1, len(rows)) * _CELL_H), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((_PAD, 6), title, fill=_INK, font=font)
    if not rows:
        draw.text((_PAD, 24 + _PAD), "no rows in this run", fill=_INK, font=font)
    for index, row in enumerate(rows):
        top = 24 + index * _CELL_H
        _paste(sheet, draw, row.source, 0, top, [f"row {row.row_id}", "source", _short(row.source_note)], font)
        for column, cell in enumerate(row.cells, start=1):
            _paste(sheet, draw, cell.image, column * _CELL_W, top, _labels(cell), font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _labels(cell: GalleryCell) -> list[str]:
    seed = "" if cell.seed is None else f" · seed {cell.seed}"
    second = f"{cell.provider}{seed}"
    third = cell.status if cell.status != "succeeded" else (f"{cell.cost:.4f}" if cell.cost is not None else "")
    return [cell.variant, second, third if not cell.note else cell.note]


def _paste(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    thumb: Thumb | None,
    left: int,
    top: int,
    labels: list[str],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> None:
    box = (left + _PAD, top + _PAD, left + _PAD + _THUMB, top + _PAD + _THUMB)
    if thumb is None:
        draw.rectangle(box, fill=_MISSING)
    else:
        with thumb.image() as image:
            fitted = ImageOps.contain(image.convert("RGB"), (_THUMB, _THUMB))  # small sources scaled up to be seen
            offset = ((_THUMB - fitted.width) // 2, (_THUMB - fitted.height) // 2)
            sheet.paste(fitted, (box[0] + offset[0], box[1] + offset[1]))
    for line, text in enumerate(labels):
        draw.text((left + _PAD, top + _PAD + _THUMB + 2 + line * 12), _short(text), fill=_INK, font=font)


def _short(text: str) -> str:
    return text if len(text) <= _CHARS else text[: _CHARS - 1] + "…"
