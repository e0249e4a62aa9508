"""Run by peer_litellm.py inside its own virtualenv (where litellm is installed): the peer's half.

    <peer venv>/bin/python bench/litellm_router_jobs.py BASE_URL SOURCES_DIR OUT_DIR JOBS RATE CONCURRENCY

What a user would write with LiteLLM instead of retouch: one Router deployment for the OpenAI-compatible
Pixapi edits endpoint with its rate (`rpm`) and LiteLLM's retries, JOBS edits CONCURRENCY at a time, each
source read from disk and each returned image decoded and written to OUT_DIR. Prints one JSON line:
succeeded, lost (an exception after the Router's retries), CPU seconds of the jobs, wall seconds.
Imports nothing from retouch, and retouch imports nothing from here.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

# Before litellm is imported: its price map from the bundled copy, never fetched (no traffic off loopback).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm import Router

# The Router's own retries on 429 and 5xx (LiteLLM's documented `num_retries`); the OpenAI SDK's are off
# so that only the Router decides.
RETRIES = 3


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def router(base: str, rate: float) -> Router:
    deployment: dict[str, Any] = {
        "model_name": "pixapi-edits",
        "litellm_params": {
            "model": "openai/gemini-2.5-flash-image",
            "api_base": f"{base}/pixapi/v1",
            "api_key": "sandbox-key",
            "rpm": int(rate * 60),
            "max_retries": 0,
        },
    }
    return Router(model_list=[deployment], num_retries=RETRIES, routing_strategy="simple-shuffle")


async def run(base: str, sources: Path, out: Path, jobs: int, rate: float, concurrency: int) -> dict[str, Any]:
    litellm.suppress_debug_info = True
    chosen = router(base, rate)
    images = sorted(sources.glob("*.png"))
    gate = asyncio.Semaphore(concurrency)
    lost: list[str] = []

    async def one(index: int) -> None:
        async with gate:
            path = images[index % len(images)]
            try:
                image = io.BytesIO(path.read_bytes())
                image.name = path.name  # LiteLLM's transport sends a named file object, not a (name, bytes) tuple
                reply = await chosen.aimage_edit(
                    model="pixapi-edits",
                    image=image,
                    prompt="invert",
                    n=1,
                    response_format="b64_json",
                )
                data = reply.data[0].b64_json if reply.data else None
                if not data:
                    raise ValueError("no image in the reply")
                (out / f"{index}.png").write_bytes(base64.b64decode(data))
            except Exception as error:  # a lost job: what a user's script would log and move past
                lost.append(type(error).__name__)
                if os.environ.get("PEER_DEBUG"):
                    print(repr(error)[:600], file=sys.stderr)

    before, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(jobs)))
    return {
        "succeeded": jobs - len(lost),
        "lost": len(lost),
        "errors": sorted(set(lost)),
        "cpu": cpu_seconds() - before,
        "wall": time.perf_counter() - started,
        "litellm": getattr(litellm, "__version__", None) or _version(),
    }


def _version() -> str:
    from importlib.metadata import version

    return version("litellm")


def main() -> None:
    base, sources, out, jobs, rate, concurrency = sys.argv[1:7]
    Path(out).mkdir(parents=True, exist_ok=True)
    figures = asyncio.run(run(base, Path(sources), Path(out), int(jobs), float(rate), int(concurrency)))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
