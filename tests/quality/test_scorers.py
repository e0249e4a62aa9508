"""The scorer registry: a user's scorer found through the `retouch.scorers` entry point, run by the gate."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core import scorers as names
from tasks.core.config import parse_config
from tasks.core.models import EditJob, ImageRef, InputImage, JobInputs, StoredOutput
from tasks.quality import QualityGate, scorer

PLUGIN = """
def mean_red(sample):
    return {"mean_red": float(sample.output[..., 0].mean())}

def broken(sample):
    raise RuntimeError("model not loaded")
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution declaring two scorers, as `pip install` would leave it."""
    (tmp_path / "my_scorers.py").write_text(PLUGIN)
    meta = tmp_path / "my_scorers-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: my-scorers\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text(
        "[retouch.scorers]\nmean_red = my_scorers:mean_red\nbroken = my_scorers:broken\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names.SCORERS.refresh()  # the registry reads entry points once per process
    yield
    names.SCORERS.refresh()


def png(rgb: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), rgb, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.usefixtures("plugin")
def test_a_registered_scorer_runs_and_its_value_is_a_rule() -> None:
    assert {"mean_red", "broken", "colorfulness"} <= set(names.known_scorers())
    edit = {"name": "v", "provider": "local", "prompt": "grayscale", "scorers": ["mean_red", "broken"],
            "accept": {"mean_red": ">= 100"}}  # fmt: skip
    config = parse_config({"catalog": {"uri": "c"}, "edits": [edit], "output": {"uri": "o"}})
    job = EditJob("k", "r", "v", "local", None, "grayscale", "{}", 0, 1, ImageRef("path", "a.png"))
    stored = (StoredOutput(0, "u0", 8, 8, "png", 1, "s"), StoredOutput(1, "u1", 8, 8, "png", 1, "s"))
    inputs = JobInputs(image=InputImage(png((200, 10, 10)), "image/png"))
    first, second = QualityGate(config).judge(job, stored, [png((200, 10, 10)), png((50, 10, 10))], inputs)
    assert dict(first.scores)["mean_red"] == 200.0 and first.accepted is True
    assert dict(second.scores)["mean_red"] == 50.0 and (second.accepted, second.rejected_by) == (False, "mean_red")
    assert dict(first.scores)["broken"] is None  # a failing scorer leaves its value empty, the job goes on
    assert dict(first.scores)["duplicate_distance"] is None and dict(second.scores)["duplicate_distance"] == 0


def test_the_example_scorer_and_an_unknown_name() -> None:
    assert scorer("colorfulness").__name__ == "colorfulness"
    with pytest.raises(KeyError, match="unknown scorer 'clip'; known: colorfulness"):
        scorer("clip")
