"""Where a 1-row `retouch run`'s first seconds go: timestamps of its start-up steps, from one real run.

`python bench/startup_timeline.py CONFIG` runs `retouch run CONFIG --yes` in this process and prints, in seconds
from the script's start: the config loaded and Prefect's temporary server spawned (`TemporaryApi.begin`),
the run prepared, the wait for the API begun and ended (`TemporaryApi.wait`), the flow's phases, the first
image on disk and the exit. With PREFECT_API_URL set the wait ends at once. Give the config an output that
has not seen its rows (a new `output.uri`), so that the run edits.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # the script's start (the interpreter's own start-up, ~30 ms, is before it)

import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# Not bench/common.py: it imports polars and Pillow, which would move the CLI's own imports out of the timeline.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _mark(what: str) -> None:
    sys.stderr.write(f"{time.monotonic() - STARTED:6.2f} s  {what}\n")


def _marked(function: Callable[..., Any], before: str, after: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _mark(before)
        result = function(*args, **kwargs)
        _mark(after)
        return result

    return wrapper


def _watch(images: Path) -> None:
    while not (images.exists() and any(images.rglob("*.png"))):
        time.sleep(0.005)
    _mark("first image on disk")


def _phases() -> None:
    """The flow's phases, as its progress events announce them (once the pipeline is imported)."""
    while "tasks.pipeline.progress" not in sys.modules:
        time.sleep(0.005)
    from tasks.pipeline import progress

    announce = progress.announce

    def marked(run_id: str, phase: str) -> None:
        _mark(f"flow: {phase}")
        announce(run_id, phase)

    progress.announce = marked  # before flows.edit_catalog imports it: the run imports that after preparing


def main() -> None:
    import yaml

    import flows.api_start as api_start
    import flows.cli as cli

    config = sys.argv[1]
    images = Path(yaml.safe_load(Path(config).read_text())["output"]["uri"]) / "images"
    api = api_start.TemporaryApi
    begin = _marked(api.begin, "api.begin (spawns the server unless it runs)", "api.begin returned")
    wait = _marked(api.wait, "api.wait (prepared, Prefect imported)", "api.wait returned: API ready")
    api.begin, api.wait = begin, wait  # type: ignore[method-assign]
    threading.Thread(target=_phases, daemon=True).start()
    threading.Thread(target=_watch, args=(images,), daemon=True).start()
    sys.argv = ["retouch", "run", config, "--yes"]
    _mark("imports done: main")
    try:
        cli.main()
    finally:
        _mark("exit")


if __name__ == "__main__":
    main()
