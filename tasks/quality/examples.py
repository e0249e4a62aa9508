"""An example optional scorer, not model-based: the shape a user's own scorer (CLIP, aesthetics…) takes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tasks.quality.metrics import Sample

__all__ = ["colorfulness"]


def colorfulness(sample: Sample) -> Mapping[str, float | bool | str | None]:
    """Hasler and Süsstrunk's colourfulness of the output (0 for greyscale, ~100+ for vivid images).

    Args:
        sample: the output (and its source) at the common size.

    Returns:
        `{"colorfulness": value}`; a rule names it as `colorfulness: ">= 15"`.
    """
    rgb = sample.output.astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = np.hypot(rg.std(), yb.std())
    centre = np.hypot(rg.mean(), yb.mean())
    return {"colorfulness": float(spread + 0.3 * centre)}
