"""Tone, colour, filter and noise steps, checked with pixel statistics on real images."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from tasks.imaging import apply_instructions


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int64)


def test_grayscale_makes_every_pixel_neutral(photo: Image.Image) -> None:
    result = pixels(apply_instructions(photo, "make it black and white"))
    assert (result[..., 0] == result[..., 1]).all() and (result[..., 1] == result[..., 2]).all()
    assert result.std() > 10  # still an image, not a flat grey


def test_invert_maps_each_value_to_255_minus_it(photo: Image.Image) -> None:
    assert (pixels(apply_instructions(photo, "invert colors")) == 255 - pixels(photo)).all()


def test_sepia_orders_channels_red_green_blue(photo: Image.Image) -> None:
    result = pixels(apply_instructions(photo, "sepia"))
    assert (result[..., 0] >= result[..., 1]).all() and (result[..., 1] >= result[..., 2]).all()
    assert not (result == pixels(photo)).all()


def test_blur_lowers_variance_and_sharpen_raises_local_contrast(photo: Image.Image) -> None:
    def roughness(image: Image.Image) -> float:
        return float(np.abs(np.diff(pixels(image), axis=1)).mean())

    assert pixels(apply_instructions(photo, "blur 3")).var() < pixels(photo).var()
    assert roughness(apply_instructions(photo, "blur")) < roughness(photo)
    assert roughness(apply_instructions(photo, "sharpen 3")) > roughness(photo)


def test_brightness_contrast_and_saturation_move_their_statistic(photo: Image.Image) -> None:
    base = pixels(photo)
    assert pixels(apply_instructions(photo, "brightness +30%")).mean() > base.mean() + 10
    assert pixels(apply_instructions(photo, "darken")).mean() < base.mean() - 10
    assert pixels(apply_instructions(photo, "contrast 1.5")).std() > base.std()
    desaturated = pixels(apply_instructions(photo, "saturation 0"))
    assert (np.ptp(desaturated, axis=-1) <= 1).all()


def test_posterize_leaves_few_levels_per_channel(photo: Image.Image) -> None:
    result = pixels(apply_instructions(photo, "posterize 2"))
    for channel in range(3):
        assert len(np.unique(result[..., channel])) <= 4


@pytest.mark.parametrize("prompt", ["noise 20", "jitter 0.5"])
def test_random_steps_depend_on_the_seed_only(photo: Image.Image, prompt: str) -> None:
    first = pixels(apply_instructions(photo, prompt, seed=1))
    assert (first == pixels(apply_instructions(photo, prompt, seed=1))).all()
    assert not (first == pixels(apply_instructions(photo, prompt, seed=2))).all()
    assert not (first == pixels(photo)).all()


def test_noise_keeps_the_mean(photo: Image.Image) -> None:
    result = pixels(apply_instructions(photo, "noise 10", seed=3))
    assert abs(result.mean() - pixels(photo).mean()) < 2
    assert np.abs(result - pixels(photo)).mean() > 4


def test_chain_order_matters(photo: Image.Image) -> None:
    one = pixels(apply_instructions(photo, "posterize 1, then brightness 0.5"))
    other = pixels(apply_instructions(photo, "brightness 0.5 then posterize 1"))
    assert not (one == other).all()
    assert one.max() <= 64 and set(np.unique(other)) <= {0, 128}


def test_alpha_survives_colour_steps(photo: Image.Image) -> None:
    rgba = photo.convert("RGBA")
    alpha = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    rgba.putalpha(Image.fromarray(alpha))
    for prompt in ("grayscale", "sepia", "invert", "brighten", "posterize 3", "noise", "jitter", "sharpen"):
        result = apply_instructions(rgba, prompt, seed=5)
        assert result.mode == "RGBA", prompt
        assert (np.asarray(result)[..., 3] == alpha).all(), prompt


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("P", "RGB"), ("CMYK", "RGB"), ("L", "RGB"), ("1", "RGB"), ("LA", "RGBA"), ("I;16", "RGB")],
)
def test_any_mode_is_worked_on_as_rgb_or_rgba(photo: Image.Image, mode: str, expected: str) -> None:
    source = (
        photo.convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    )
    result = apply_instructions(source, "invert")
    assert result.mode == expected and result.size == photo.size
    if mode == "I;16":  # 16-bit values are scaled down, not clipped to white
        assert abs(pixels(result).mean() - (255 - pixels(photo.convert("L")).mean())) < 1


def test_palette_with_transparency_keeps_it(photo: Image.Image) -> None:
    paletted = photo.convert("P")
    paletted.info["transparency"] = paletted.getpixel((0, 0))
    result = apply_instructions(paletted, "grayscale")
    assert result.mode == "RGBA" and np.asarray(result)[0, 0, 3] == 0


def test_the_input_image_is_not_modified(photo: Image.Image) -> None:
    before = pixels(photo).copy()
    apply_instructions(photo, "invert, blur, posterize 2")
    assert (pixels(photo) == before).all()


def test_rgb_with_a_transparent_colour_becomes_rgba(photo: Image.Image, to_bytes: Callable[..., bytes]) -> None:
    key = photo.getpixel((5, 5))
    decoded = Image.open(io.BytesIO(to_bytes(photo, "PNG", transparency=key)))
    result = apply_instructions(decoded, "invert")
    assert result.mode == "RGBA" and np.asarray(result)[5, 5, 3] == 0 and np.asarray(result)[0, 0, 3] == 255
