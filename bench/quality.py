"""Scoring cost against the local engine's edit, per 512 px image; the target is a ratio of 10% or less.

python bench/quality.py [--images 40] [--side 512] [--format png|jpeg]

Times, on the same images: the local engine's edit (decode, edit, encode, as the `local` provider runs it)
and the quality gate's work on its output (decode output, source and mask, resize to the common size,
every built-in score and the hash). Prints the median of each and their ratio, and the gate's time when the
source is already decoded (the gate keeps a shard's recent sources for a row's other jobs).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
from PIL import Image, ImageDraw

from tasks.imaging import edit_image_bytes
from tasks.quality import builtin_scores, make_sample, reference

PROMPTS = ("brighten 20%, then saturation +10%", "contrast +30%", "sharpen, then brightness 1.1", "sepia", "blur 1.5")


def photo(index: int, side: int, fmt: str) -> bytes:
    """A textured synthetic product shot: noise background, a few shapes (flat images would flatter SSIM)."""
    rng = np.random.default_rng(index)
    base = rng.integers(90, 170, (side, side, 3), dtype=np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for k in range(6):
        x, y = rng.integers(0, side - side // 4, 2)
        draw.ellipse(
            (int(x), int(y), int(x) + side // 4, int(y) + side // 5), fill=tuple(rng.integers(0, 255, 3).tolist())
        )
        draw.line((0, k * side // 6, side, side - k * side // 6), fill=(20, 20, 20), width=3)
    return _encoded(image, fmt)


def _encoded(image: Image.Image, fmt: str = "png") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper())
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--format", choices=("png", "jpeg"), default="png")
    args = parser.parse_args()
    mask = Image.new("L", (args.side, args.side), 0)
    ImageDraw.Draw(mask).rectangle((args.side // 4, args.side // 4, args.side * 3 // 4, args.side * 3 // 4), fill=255)
    mask_bytes = _encoded(mask)
    edits, scores, shared = [], [], []
    for index in range(args.images):
        source = photo(index, args.side, args.format)
        started = time.perf_counter()
        output = edit_image_bytes(source, PROMPTS[index % len(PROMPTS)], seed=index).data
        edits.append(time.perf_counter() - started)
        started = time.perf_counter()
        source_pixels = reference(source, mask_bytes)
        decoded = time.perf_counter()
        builtin_scores(make_sample(output, source_pixels, None, PROMPTS[index % len(PROMPTS)]))
        scores.append(time.perf_counter() - started)
        shared.append(time.perf_counter() - decoded)
    edit_ms, score_ms = statistics.median(edits) * 1000, statistics.median(scores) * 1000
    shared_ms = statistics.median(shared) * 1000
    print(f"images:             {args.images} {args.format} at {args.side} px")
    print(f"local engine edit:  {edit_ms:.1f} ms per image (median)")
    print(f"quality scoring:    {score_ms:.1f} ms per image (median)")
    print(f"ratio:              {score_ms / edit_ms:.1%} (target <= 10%)")
    print(f"with the source already decoded (a row's other variants, seeds and retries): {shared_ms:.1f} ms,")
    print(f"ratio:              {shared_ms / edit_ms:.1%}")


if __name__ == "__main__":
    main()
