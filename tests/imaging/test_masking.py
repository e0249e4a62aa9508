"""Masked steps change only the masked pixels; inpainting fills the mask from its surroundings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tasks.core.errors import InstructionError, SourceError
from tasks.imaging import apply_instructions


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int64)


def inside(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask) > 127


def test_a_step_inside_the_mask_changes_only_masked_pixels(photo: Image.Image, box_mask: Image.Image) -> None:
    source, where = pixels(photo), inside(box_mask)
    result = pixels(apply_instructions(photo, "inside the mask: invert", mask=box_mask))
    assert (result[where] == 255 - source[where]).all()
    assert (result[~where] == source[~where]).all()


def test_a_step_outside_the_mask_leaves_the_masked_pixels(photo: Image.Image, box_mask: Image.Image) -> None:
    source, where = pixels(photo), inside(box_mask)
    result = pixels(apply_instructions(photo, "outside the mask: grayscale", mask=box_mask))
    assert (result[where] == source[where]).all()
    assert (result[~where][:, 0] == result[~where][:, 1]).all()


def test_scope_lasts_until_changed_and_a_suffix_scopes_one_step(photo: Image.Image, box_mask: Image.Image) -> None:
    source, where = pixels(photo), inside(box_mask)
    result = pixels(apply_instructions(photo, "invert in the mask, then brightness 0", mask=box_mask))
    assert (result == 0).all()
    scoped = pixels(apply_instructions(photo, "inside mask: brightness 0; everywhere: invert", mask=box_mask))
    assert (scoped[where] == 255).all() and (scoped[~where] == 255 - source[~where]).all()


def test_the_mask_follows_geometric_steps(photo: Image.Image, box_mask: Image.Image) -> None:
    mirrored = pixels(photo)[:, ::-1]
    where = inside(box_mask)[:, ::-1]
    result = pixels(apply_instructions(photo, "mirror, then inside the mask: brightness 0", mask=box_mask))
    assert (result[where] == 0).all() and (result[~where] == mirrored[~where]).all()
    cropped = pixels(apply_instructions(photo, "crop 16,12,40,30, then in the mask: brightness 0", mask=box_mask))
    assert cropped.shape == (18, 24, 3) and (cropped == 0).all()
    padded = pixels(apply_instructions(photo, "pad 4px, then inside the mask: brightness 0", mask=box_mask))
    assert (padded[16:34, 20:44] == 0).all() and (padded[:4] == 255).all()


def test_inpaint_fills_the_mask_from_its_surroundings(box_mask: Image.Image) -> None:
    image = Image.new("RGB", (64, 48), (20, 60, 220))
    image.paste((250, 10, 10), (18, 14, 38, 28))  # a red object inside the mask's box
    where = inside(box_mask)
    result = pixels(apply_instructions(image, "remove the masked object", mask=box_mask))
    assert result[where][:, 0].mean() < 60 and result[where][:, 2].mean() > 180
    assert (result[~where] == pixels(image)[~where]).all()


def test_inpaint_keeps_alpha_filled_too(box_mask: Image.Image) -> None:
    image = Image.new("RGBA", (64, 48), (0, 0, 255, 255))
    image.paste((255, 0, 0, 0), (18, 14, 38, 28))
    result = apply_instructions(image, "erase", mask=box_mask)
    assert result.mode == "RGBA" and np.asarray(result)[20, 28, 3] > 200


def test_an_empty_mask_changes_nothing(photo: Image.Image) -> None:
    empty = Image.new("L", photo.size, 0)
    assert (pixels(apply_instructions(photo, "inpaint, inside the mask: invert", mask=empty)) == pixels(photo)).all()


def test_masks_of_any_mode_are_read_as_greyscale(photo: Image.Image, box_mask: Image.Image) -> None:
    result = pixels(apply_instructions(photo, "in the mask invert", mask=box_mask.convert("RGB")))
    where = inside(box_mask)
    assert (result[where] == 255 - pixels(photo)[where]).all()


@pytest.mark.parametrize("prompt", ["inpaint", "remove the masked area", "inside the mask: blur"])
def test_masked_steps_without_a_mask_say_a_mask_is_required(photo: Image.Image, prompt: str) -> None:
    with pytest.raises(InstructionError, match="a mask is required"):
        apply_instructions(photo, prompt)


def test_a_mask_of_another_size_names_both_sizes(photo: Image.Image) -> None:
    # Refused even when no step uses it: a mask that does not fit is a catalog mistake worth seeing.
    for prompt in ("inpaint", "invert"):
        with pytest.raises(SourceError, match="the mask is 32x24 but the image is 64x48"):
            apply_instructions(photo, prompt, mask=Image.new("L", (32, 24), 255))


def test_an_unused_mask_is_ignored(photo: Image.Image, box_mask: Image.Image) -> None:
    result = apply_instructions(photo, "invert", mask=box_mask)
    assert (pixels(result) == 255 - pixels(photo)).all()
