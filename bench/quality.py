"""Scoring cost against the local engine's edit, per 512 px image; the goal is a ratio of 10% or less.

python bench/quality.py [--images 40] [--side 512] [--format png|jpeg]

Times, on the same images, the steps of a local job as a worker process runs them (tasks/pipeline/local_work):
the engine (decode the source and mask, edit, encode) and the scoring from the engine's own pixels (source
and mask, and the output before encoding, resized to the common size; every built-in score and the hash).
Prints the median of each and their ratio next to the goal; then, for comparison, what scoring a remote
provider's output costs (decode output, source and mask from bytes), and that with the source already decoded;
then the gate's `judge` of one 64×48 remote output (bench/throughput.py's size) with its source cached, as a
shard judges a row's jobs after the first.

Times are CPU time of this thread (`time.thread_time`), not wall time: the machine is shared, and a wall
clock counts the time other processes hold the core. Each step runs right after the engine, as in a worker,
so its figure includes the caches the engine left cold.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import common  # noqa: F401  (puts the repo on sys.path)
import numpy as np
from PIL import Image, ImageDraw

from tasks.core.config import parse_config
from tasks.core.models import EditJob, ImageRef, InputImage, JobInputs, StoredOutput
from tasks.imaging import apply_operations, decode_source, encode, parse_instructions, resolve_format
from tasks.pipeline.local_work import output_scores, source_reference
from tasks.quality import QualityGate, builtin_scores, make_sample, reference

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
    edits, local, scores, shared = [], [], [], []
    for index in range(args.images):
        source, prompt = photo(index, args.side, args.format), PROMPTS[index % len(PROMPTS)]
        started = time.thread_time()
        decoded = decode_source(source, mask_bytes)
        edited = apply_operations(decoded.image, parse_instructions(prompt), seed=index, mask=decoded.mask)
        output = encode(edited, resolve_format(None, decoded.format)).data
        edits.append(time.thread_time() - started)
        started = time.thread_time()
        assert output_scores(edited, source_reference(decoded), None, prompt)
        local.append(time.thread_time() - started)
        started = time.thread_time()
        source_pixels = reference(source, mask_bytes)
        decoded_at = time.thread_time()
        builtin_scores(make_sample(output, source_pixels, None, prompt))
        scores.append(time.thread_time() - started)
        shared.append(time.thread_time() - decoded_at)
    edit_ms, local_ms = statistics.median(edits) * 1000, statistics.median(local) * 1000
    score_ms, shared_ms = statistics.median(scores) * 1000, statistics.median(shared) * 1000
    print(f"images:               {args.images} {args.format} at {args.side} px")
    print(f"local engine:         {edit_ms:.1f} ms per image (median: decode, edit, encode)")
    print(f"scores, local job:    {local_ms:.1f} ms per image (median: from the engine's own pixels)")
    print(f"ratio:                {local_ms / edit_ms:.1%}   goal <= 10%")
    print(
        f"scores, remote job:   {score_ms:.1f} ms ({score_ms / edit_ms:.1%} of the engine; decodes output and source);"
    )
    print(f"  with the source already decoded (a row's other jobs): {shared_ms:.1f} ms ({shared_ms / edit_ms:.1%})")
    print(f"judge, 64x48 remote:  {judge_thumbnail() * 1000:.3f} ms per output (median; source cached per shard)")


def judge_thumbnail(repeats: int = 400) -> float:
    """The gate's CPU time to score and judge one 64×48 PNG output whose source it has already decoded."""
    edit = {"name": "v", "provider": "local", "accept": {"ssim_outside_mask": ">= 0.5", "not_blank": True}}
    gate = QualityGate(parse_config({"catalog": {"uri": "c"}, "edits": [edit], "output": {"uri": "o"}}))
    source = Image.fromarray(np.asarray(Image.open(io.BytesIO(photo(0, 64, "png"))))[:48])
    output = _encoded(source.point(lambda value: min(255, value + 20)))
    stored = (StoredOutput(0, "u", 64, 48, "png", len(output), "s"),)
    inputs = JobInputs(image=InputImage(_encoded(source), "image/png"))
    times = []
    for index in range(repeats):
        # A row per job: duplicates are looked up among the row's earlier outputs (none here).
        job = EditJob(f"k{index}", f"r{index}", "v", "local", None, "p", "{}", 0, 1, ImageRef("path", "a.png"))
        started = time.thread_time()
        gate.judge(job, stored, [output], inputs)
        times.append(time.thread_time() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main()
