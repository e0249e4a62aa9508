"""Rotate, flip, crop, resize and pad: exact sizes, where marked pixels go, and border fills."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tasks.core.errors import InstructionError
from tasks.imaging import apply_instructions

RED = (255, 0, 0)
WHITE = (255, 255, 255)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int64)


@pytest.mark.parametrize(
    ("prompt", "size", "red_at"),
    [
        ("rotate 90", (48, 64), (0, 63)),  # counter-clockwise: top-left goes to bottom-left
        ("rotate 90 clockwise", (48, 64), (47, 0)),
        ("rotate 180", (64, 48), (63, 47)),
        ("rotate 270", (48, 64), (47, 0)),
        ("rotate 360", (64, 48), (0, 0)),
        ("flip", (64, 48), (0, 47)),
        ("mirror", (64, 48), (63, 0)),
        ("flip horizontally", (64, 48), (63, 0)),
    ],
)
def test_exact_turns_and_flips_move_the_marked_pixel(
    marked: Image.Image, prompt: str, size: tuple[int, int], red_at: tuple[int, int]
) -> None:
    result = apply_instructions(marked, prompt)
    assert result.size == size
    assert result.getpixel(red_at) == RED
    assert sorted(np.asarray(result).reshape(-1, 3).tolist()) == sorted(np.asarray(marked).reshape(-1, 3).tolist())


def test_free_rotation_expands_the_canvas_with_white_or_transparent_corners(photo: Image.Image) -> None:
    result = apply_instructions(photo, "rotate 30")
    assert result.width > 64 and result.height > 48
    assert result.getpixel((0, 0)) == WHITE
    transparent = apply_instructions(photo.convert("RGBA"), "rotate -30")
    assert transparent.mode == "RGBA" and np.asarray(transparent)[0, 0, 3] == 0


def test_crops_cut_the_right_pixels(photo: Image.Image) -> None:
    source = pixels(photo)
    centre = apply_instructions(photo, "crop center 32x24")
    assert centre.size == (32, 24) and (pixels(centre) == source[12:36, 16:48]).all()
    box = apply_instructions(photo, "crop 10,5,50,40")
    assert box.size == (40, 35) and (pixels(box) == source[5:40, 10:50]).all()
    assert apply_instructions(photo, "crop 50%").size == (32, 24)


def test_random_crop_is_a_seeded_slice_of_the_image(photo: Image.Image) -> None:
    source = pixels(photo)
    corners = set()
    for seed in range(6):
        crop = pixels(apply_instructions(photo, "random crop 16x16", seed=seed))
        assert crop.shape == (16, 16, 3)
        hits = [(x, y) for y in range(33) for x in range(49) if (source[y : y + 16, x : x + 16] == crop).all()]
        assert len(hits) == 1
        corners.add(hits[0])
    assert len(corners) > 1
    again = apply_instructions(photo, "random crop 16x16", seed=3)
    assert (pixels(again) == pixels(apply_instructions(photo, "random crop 16x16", seed=3))).all()


@pytest.mark.parametrize(
    ("prompt", "size"),
    [
        ("resize 20x30", (20, 30)),
        ("fit 32x32", (32, 24)),
        ("fit 100x60", (80, 60)),
        ("scale 50%", (32, 24)),
        ("scale 2x", (128, 96)),
        ("resize 25%", (16, 12)),
        ("pad 10px", (84, 68)),
        ("pad left 20px", (84, 48)),
        ("pad 10%", (76, 58)),
        ("extend to 100x60", (100, 60)),
        ("crop 32x24 then resize 64x48", (64, 48)),
    ],
)
def test_sizes_are_exact(photo: Image.Image, prompt: str, size: tuple[int, int]) -> None:
    assert apply_instructions(photo, prompt).size == size


def test_pad_fills_the_border_and_keeps_the_image(photo: Image.Image) -> None:
    padded = pixels(apply_instructions(photo, "pad 10px"))
    assert (padded[:10] == 255).all() and (padded[:, :10] == 255).all() and (padded[-10:] == 255).all()
    assert (padded[10:58, 10:74] == pixels(photo)).all()
    left = pixels(apply_instructions(photo, "pad left 20px red"))
    assert (left[:, :20] == RED).all() and (left[:, 20:] == pixels(photo)).all()
    hexed = pixels(apply_instructions(photo, "pad 2px on top with #00ff00"))
    assert (hexed[:2] == (0, 255, 0)).all() and hexed.shape == (50, 64, 3)


def test_pad_fill_modes(photo: Image.Image) -> None:
    source = pixels(photo)
    edge = pixels(apply_instructions(photo, "pad right 5px edge"))
    assert (edge[:, 64:] == source[:, 63:64]).all()
    mirrored = pixels(apply_instructions(photo, "pad right 5px mirror"))
    assert (mirrored[:, 64:] == source[:, ::-1][:, :5]).all()
    blurred = pixels(apply_instructions(photo, "outpaint 8px with blur"))
    assert (blurred[8:56, 8:72] == source).all() and not (blurred[:8] == 255).all()
    clear = apply_instructions(photo, "pad 4px transparent")
    assert clear.mode == "RGBA" and np.asarray(clear)[0, 0, 3] == 0 and np.asarray(clear)[10, 10, 3] == 255


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("crop center 100x10", "from 1x1 to 64x48"),
        ("random crop 65x10", "from 1x1 to 64x48"),
        ("crop 0,0,70,10", "right <= 64"),
        ("crop 20,0,10,10", "left < right"),
        ("extend to 32x32", "at least the image size 64x48"),
        ("scale 10x, then pad 8000px", "at most 16384"),
        ("resize 16000x16000", "at most 64 megapixels"),
    ],
)
def test_steps_that_do_not_fit_the_image_are_refused(photo: Image.Image, prompt: str, expected: str) -> None:
    with pytest.raises(InstructionError, match="step ") as caught:
        apply_instructions(photo, prompt)
    assert expected in str(caught.value)
