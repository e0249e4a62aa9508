"""The bad-output faults: blank, unchanged and off-mask images, as the sandbox returns them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tasks.imaging import edit_image_bytes
from tasks.sandbox.editing import EditSpec
from tasks.sandbox.faults import SPOILING, Fault, FaultInjector
from tasks.sandbox.settings import FaultSettings, SandboxProviderSettings
from tasks.sandbox.spoil import spoil


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


SOURCE = np.tile(np.arange(0, 160, 10, dtype=np.uint8), (16, 1))[..., None].repeat(3, 2)
MASK = np.zeros((16, 16), np.uint8)
MASK[:, 8:] = 255


def test_each_bad_output_kind() -> None:
    source = png(SOURCE)
    edited = [edit_image_bytes(source, "brighten 20%")]
    spec = EditSpec(prompt="brighten 20%", seeds=(1,), mask=png(MASK))
    blank = pixels(spoil(Fault.BLANK, edited, source, spec)[0].data)
    assert (blank == 128).all() and blank.shape == SOURCE.shape
    assert (pixels(spoil(Fault.UNCHANGED, edited, source, spec)[0].data) == SOURCE).all()
    off = pixels(spoil(Fault.OFF_MASK, edited, source, spec)[0].data)
    good = pixels(edited[0].data)
    assert (off[:, 8:] == good[:, 8:]).all() and (off[:, :8] == 255 - good[:, :8]).all()
    assert spoil(Fault.HANG, edited, source, spec) == edited  # other faults leave the images alone


def test_a_bad_output_is_a_function_of_the_seed_and_the_request_whatever_the_order() -> None:
    faults = FaultSettings.model_validate({"seed": 5, "providers": {"pixapi": {"blank": 0.2, "unchanged": 0.1}}})
    keys = [f"job-{i}" for i in range(400)]
    forward = FaultInjector("pixapi", faults, SandboxProviderSettings())
    backward = FaultInjector("pixapi", faults, SandboxProviderSettings())
    drawn = {key: forward.draw_submit(key) for key in keys}
    assert {key: backward.draw_submit(key) for key in reversed(keys)} == drawn  # concurrent order changes nothing
    assert forward.draw_submit("job-7") == drawn["job-7"]  # the same request again: the same verdict
    shares = {fault: sum(1 for value in drawn.values() if value is fault) / len(keys) for fault in SPOILING}
    assert abs(shares[Fault.BLANK] - 0.2) < 0.06 and abs(shares[Fault.UNCHANGED] - 0.1) < 0.05
    other = FaultInjector("pixapi", faults.model_copy(update={"seed": 6}), SandboxProviderSettings())
    assert {key: other.draw_submit(key) for key in keys} != drawn  # the seed chooses which jobs are spoiled
    spoiled = sum(1 for value in drawn.values() if value is not None) + (drawn["job-7"] is not None)
    assert sum(forward.counts.values()) == spoiled  # each verdict counted once in the sandbox's stats
