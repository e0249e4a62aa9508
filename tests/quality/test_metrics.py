"""The built-in scores against values worked out by hand on small synthetic images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tasks.quality import Sample, builtin_scores, make_sample, reference
from tasks.quality.metrics import aspect_error, changed, clipped, dhash, hash_distance, is_blank, sharpness, ssim

C1 = (0.01 * 255) ** 2


def grey(value: int, width: int = 16, height: int = 16) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_ssim_of_two_flat_images_is_the_luminance_term() -> None:
    # Flat images have no variance, so SSIM = (2ab + C1) / (a² + b² + C1).
    assert ssim(grey(100), grey(100)) == pytest.approx(1.0)
    assert ssim(grey(100), grey(150)) == pytest.approx((2 * 100 * 150 + C1) / (100**2 + 150**2 + C1))


def test_changed_is_the_mean_absolute_difference_over_the_region() -> None:
    after = grey(100)
    after[:, 12:] = 200
    inside = np.zeros((16, 16), dtype=bool)
    inside[:, 12:] = True
    assert changed(grey(100), after) == pytest.approx(0.25 * 100 / 255)
    assert changed(grey(100), after, inside) == pytest.approx(100 / 255)
    assert changed(grey(100), after, ~inside) == 0.0


def test_an_edit_inside_the_mask_keeps_preservation_and_one_outside_loses_it() -> None:
    mask = np.zeros((16, 16, 3), dtype=np.uint8)
    mask[:, 12:] = 255  # edit the right 4 columns
    inside_edit, outside_edit = grey(100), grey(150)
    inside_edit[:, 12:] = 200
    outside_edit[:, 12:] = 100
    good = builtin_scores(make_sample(png(inside_edit), reference(png(grey(100)), png(mask)), None, "p"))
    bad = builtin_scores(make_sample(png(outside_edit), reference(png(grey(100)), png(mask)), None, "p"))
    assert good["ssim_outside_mask"] == pytest.approx(1.0)
    assert good["changed"] == pytest.approx(100 / 255)
    # Pixels 4+ columns from the mask see only flat 150 against flat 100 in their 7 px window.
    assert bad["ssim_outside_mask"] == pytest.approx((2 * 100 * 150 + C1) / (100**2 + 150**2 + C1))
    assert bad["changed"] == 0.0


def test_blank_and_clipped() -> None:
    assert is_blank(grey(30)) and not is_blank(np.tile(np.array([0, 255], np.uint8), (16, 8))[..., None].repeat(3, 2))
    half = grey(128)
    half[:8] = 0
    half[8:12] = 255
    assert clipped(half) == pytest.approx(0.75)
    assert clipped(grey(128)) == 0.0


def test_sharpness_is_the_variance_of_the_laplacian() -> None:
    dot = grey(0, 5, 5)
    dot[2, 2] = 100
    # Laplacian: -400 at the dot, +100 at its 4 neighbours, 0 elsewhere: mean 0, variance (400² + 4·100²) / 25.
    assert sharpness(dot) == pytest.approx((400**2 + 4 * 100**2) / 25)
    assert sharpness(grey(90)) == 0.0


def test_aspect_error_against_the_asked_size() -> None:
    assert aspect_error(grey(0, 200, 100), (100, 100)) == pytest.approx(1.0)
    assert aspect_error(grey(0, 64, 32), (1024, 512)) == 0.0


def test_dhash_of_gradients_and_the_distance_between_them() -> None:
    rising = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (18, 1))[..., None].repeat(3, 2)
    falling = rising[:, ::-1].copy()
    assert dhash(rising) == "f" * 16 and dhash(falling) == "0" * 16
    assert hash_distance(dhash(rising), dhash(falling)) == 64
    assert hash_distance(dhash(rising), dhash(rising)) == 0


def test_a_sample_without_source_bytes_has_no_preservation_scores() -> None:
    scores = builtin_scores(make_sample(png(grey(10)), None, (32, 16), "p"))
    assert scores["ssim_outside_mask"] is None and scores["changed"] is None
    assert scores["blank"] is True and scores["aspect_error"] == pytest.approx(0.5)


def test_outputs_are_compared_at_the_common_size() -> None:
    big = np.full((600, 600, 3), 100, np.uint8)
    scores = builtin_scores(make_sample(png(big), reference(png(grey(100, 300, 300)), None), None, "p"))
    assert scores["ssim_outside_mask"] == pytest.approx(1.0) and scores["changed"] == 0.0


def test_a_sample_made_by_hand_scores_as_one_made_from_its_reference() -> None:
    # A scorer's own Sample has no Reference: its source terms are computed from its arrays, to the same values.
    rng = np.random.default_rng(5)
    source, output = rng.integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    mask = np.zeros((40, 56, 3), dtype=np.uint8)
    mask[10:30, 20:50] = 255
    made = make_sample(png(output), reference(png(source), png(mask)), (56, 40), "p")
    by_hand = Sample(made.output, made.output_size, made.source, made.mask, made.asked, made.prompt)
    assert made.reference is not None and by_hand.reference is None
    assert builtin_scores(by_hand) == builtin_scores(made)


def test_an_image_opencv_cannot_read_is_decoded_by_pillow_at_its_own_size() -> None:
    buffer = io.BytesIO()
    Image.fromarray(grey(120, 30, 20)).save(buffer, format="PCX")
    scores = builtin_scores(make_sample(buffer.getvalue(), reference(png(grey(120, 30, 20)), None), (30, 20), "p"))
    assert scores["ssim_outside_mask"] == pytest.approx(1.0) and scores["changed"] == 0.0
    assert scores["aspect_error"] == 0.0 and scores["blank"] is True


def test_a_jpeg_turned_by_its_exif_orientation_is_scored_upright_at_its_upright_size() -> None:
    # A phone photo: stored 64 wide and 32 high, its EXIF says "turn a quarter" (6), so it is 32 × 64 upright.
    stored = np.zeros((32, 64, 3), dtype=np.uint8)
    stored[:, :32] = 220  # the left half bright
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    upright = np.asarray(Image.fromarray(stored).transpose(Image.Transpose.ROTATE_270))

    source = reference(buffer.getvalue(), None)

    assert source.size == (32, 64) and source.pixels.shape == (64, 32, 3)
    scores = builtin_scores(make_sample(png(upright), source, None, "p"))
    assert scores["aspect_error"] == 0.0 and scores["ssim_outside_mask"] == pytest.approx(1.0, abs=0.02)
