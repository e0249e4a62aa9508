"""Shared benchmark helpers: synthetic catalogs of small images, peak RSS, a quiet Prefect setup."""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

# Benchmarks run as scripts from the repo root; make `tasks` and `flows` importable without an install.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Python puts a script's own folder first on sys.path, so bench/distributed.py would shadow dask's
# `distributed` (imported by prefect-dask): move bench/ to the end, where `from common import` still works.
_BENCH = str(Path(__file__).resolve().parent)
while _BENCH in sys.path:
    sys.path.remove(_BENCH)
sys.path.append(_BENCH)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # a busy machine starts it slowly
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="retouch-bench-prefect-"))

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def goal(figure: str, now: float, target: float, *, at_most: bool = True, unit: str = "", digits: int = 2) -> str:
    """One figure next to its goal, the way every bench prints it; returns the line (also printed).

    Args:
        figure: what was measured.
        now: the measured value.
        target: the goal.
        at_most: True when the goal is `now <= target` (CPU, 429s, memory), False for `now >= target`.
        unit: appended to both numbers ("ms", "×", " MB").
        digits: decimals shown.
    """
    met = now <= target if at_most else now >= target
    sign = "≤" if at_most else "≥"
    line = f"{figure}: {now:,.{digits}f}{unit}   goal {sign} {target:,.{digits}f}{unit}   {'met' if met else 'MISSED'}"
    print(line, flush=True)
    return line


# The remote variants the rate benches send, one per provider endpoint: small PNGs, answers inline.
PICSART_EDIT = {"name": "edit", "provider": "picsart.edit", "prompt": "sepia", "params": {"format": "PNG"}}
PICSART_OUTPAINT = {
    "name": "outpaint",
    "provider": "picsart.outpaint",
    "prompt": "pad 2px",
    "params": {"format": "PNG"},
}
PIXAPI_EDITS = {
    "name": "pixapi",
    "provider": "pixapi.edits",
    "model": "gemini-2.5-flash-image",
    "prompt": "invert",
    "params": {"response_format": "b64_json"},
}
FASHN_EDIT = {"name": "fashn", "provider": "fashn.edit", "prompt": "mirror", "params": {"return_base64": True}}


def small_png(index: int, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256))
    ImageDraw.Draw(image).ellipse((size[0] // 8, size[1] // 8, size[0] * 7 // 8, size[1] * 7 // 8), fill=(240, 200, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_catalog(
    directory: Path,
    rows: int,
    *,
    distinct_images: int = 50,
    prompt: str = "sepia, then blur 1",
    size: tuple[int, int] = (64, 48),
) -> Path:
    """A catalog of `rows` rows pointing at `distinct_images` PNG files of `size` on disk."""
    images = directory / "images"
    images.mkdir(parents=True, exist_ok=True)
    for index in range(distinct_images):
        (images / f"{index}.png").write_bytes(small_png(index, size))
    frame = pl.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "image": [f"images/{i % distinct_images}.png" for i in range(rows)],
            "prompt": [prompt] * rows,
        }
    )
    path = directory / "catalog.parquet"
    frame.write_parquet(path)
    return path


def write_yaml(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sandbox(settings: dict[str, Any], directory: Path) -> tuple[Any, str]:
    """The sandbox in its own process on a free loopback port; returns (process, base URL)."""
    import subprocess
    import time as clock

    import httpx

    path = write_yaml(directory / "sandbox-settings.yaml", settings)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "sandbox", "--port", str(port), "--settings", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = clock.monotonic() + 30
    while clock.monotonic() < deadline:
        try:
            httpx.get(f"{base}/_sandbox/stats", timeout=1).raise_for_status()
            return process, base
        except httpx.HTTPError:
            clock.sleep(0.2)
    process.kill()
    raise RuntimeError("the sandbox did not start within 30 s")


class StatsSampler:
    """Samples the sandbox's request counters twice a second, to measure steady-state rates server-side."""

    def __init__(self, base_url: str) -> None:
        import threading

        self.base_url = base_url
        self.samples: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import time as clock

        import httpx

        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                self.samples.append((clock.monotonic(), client.get(f"{self.base_url}/_sandbox/stats").json()))
                self._stop.wait(0.5)

    def steady_rate(self, area: str, trim: float = 0.15) -> float:
        """Requests/s for `area` over the middle of its active period (trim the ramp-up and the tail)."""
        points = [(t, stats.get(area, {}).get("requests", 0)) for t, stats in self.samples]
        active = _longest_stretch(points, [i for i in range(1, len(points)) if points[i][1] > points[i - 1][1]])
        if len(active) < 4:
            return 0.0
        first, last = active[0] - 1, active[-1]
        span = last - first
        start, end = points[first + int(span * trim)], points[last - int(span * trim)]
        return (end[1] - start[1]) / (end[0] - start[0])


def _longest_stretch(points: list[tuple[float, int]], active: list[int], gap: float = 2.0) -> list[int]:
    """The longest run of active samples with no pause over `gap` seconds: a balance read after the run
    (retouch reads each account's credits when it ends) is not part of the steady state it would stretch."""
    if not active:
        return []
    stretches, current = [], [active[0]]
    for index in active[1:]:
        if points[index][0] - points[current[-1]][0] > gap:
            stretches.append(current)
            current = []
        current.append(index)
    stretches.append(current)
    return max(stretches, key=len)


def billed_rate(base_url: str, provider: str, trim: float = 0.1) -> float:
    """Billed requests/s for `provider` from the sandbox's ledger, past the ramp-up and before the tail.

    The ledger holds only billed submissions, so a balance read or a poll after the last job does not
    stretch the measured period (the request counters `StatsSampler` reads count those too).
    """
    import httpx

    entries = httpx.get(f"{base_url}/_sandbox/ledger", timeout=10).json()["entries"]
    sends = sorted(entry["time"] for entry in entries if entry["provider"] == provider)
    cut = int(len(sends) * trim)
    steady = sends[cut : len(sends) - cut]
    if len(steady) < 2 or steady[-1] == steady[0]:
        return 0.0
    return (len(steady) - 1) / (steady[-1] - steady[0])
