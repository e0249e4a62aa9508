"""How soon `retouch` answers: validate and show, and a 1-row run's first image, each beside its goal.

`python bench/startup.py [--repeats 3]`: every figure is the wall time of a real `retouch` process from its
spawn (min / median / max over the repeats), with the median CPU the process and its children used. A
1-row local catalog (one 64×48 PNG, the `local` provider) and a Prefect home of its own. The run is timed
twice: with Prefect's ephemeral API (the default, started by the run itself) and against a
`prefect server start` this script runs on 127.0.0.1. For context it also times the floors under them: an
empty interpreter, `import prefect`, and Prefect's ephemeral server alone (spawn to healthy, as `retouch
run` starts it). The machine is shared: the load average is printed before and after.
`--source DIR` runs the `retouch` of another checkout (e.g. `git worktree add /tmp/before main`) for a
before/after comparison on the same machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from common import ROOT, free_port, write_catalog, write_yaml

RETOUCH = [sys.executable, "-m", "flows.cli"]
SOURCE = [ROOT]  # the checkout whose `retouch` is timed (--source)
GOAL_CHECK = 1.0  # s: validate, show
GOAL_FIRST_IMAGE = 3.0  # s: a 1-row run's first image, with either API
Sample = tuple[float, float]  # wall seconds, CPU seconds


def _env(**extra: str) -> dict[str, str]:
    # The CLI waits up to 120 s for the ephemeral server; the same here for the server timed alone (Prefect's
    # own default, 20 s, is too short on a loaded 2-core machine).
    env = {**os.environ, "PYTHONPATH": str(SOURCE[0]), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    env.update({"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", **extra})
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _config(work: Path, name: str) -> Path:
    """A config writing to an output of its own, so that each run edits its one job afresh."""
    catalog = work / "catalog.parquet"
    if not catalog.exists():
        write_catalog(work, rows=1, distinct_images=1, prompt="sepia")
    raw = {
        "catalog": {"uri": str(catalog), "columns": {"id": "id", "image": "image", "prompt": "prompt"}},
        "edits": [{"name": "v", "provider": "local", "seeds": [1]}],
        "output": {"uri": str(work / "out" / name)},
    }
    return write_yaml(work / f"{name}.yaml", raw)


def _timed(command: Sequence[str], env: dict[str, str]) -> Sample:
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=SOURCE[0], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return took, _children_cpu() - cpu


def _run_once(config: Path, env: dict[str, str]) -> tuple[Sample, Sample]:
    """`retouch run CONFIG --yes`: (wall, CPU) to its first image on disk, and to its exit.

    The CPU to the first image is not observable from outside; it is reported as the exit's.
    """
    images = config.parent / "out" / config.stem / "images"
    cpu, started = _children_cpu(), time.perf_counter()
    command = [*RETOUCH, "run", str(config), "--yes"]
    child = subprocess.Popen(command, cwd=SOURCE[0], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = None
    while child.poll() is None:
        if first is None and images.exists() and any(images.rglob("*.png")):
            first = time.perf_counter() - started
        time.sleep(0.005)
    ended = time.perf_counter() - started
    used = _children_cpu() - cpu
    log = child.stdout.read().decode() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"retouch run exited {child.returncode}:\n{log}")
    return (first if first is not None else ended, used), (ended, used)  # None: written just before the exit


def _server_alone(env: dict[str, str]) -> Sample:
    """Spawn to healthy for Prefect's ephemeral server, started exactly as `retouch run` starts it."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from flows.api_start import TemporaryApi\n"
        "api = TemporaryApi(); api.begin(); api.wait(); print(time.perf_counter() - t); api.stop()\n"
    )
    cpu = _children_cpu()
    done = subprocess.run([sys.executable, "-c", code], cwd=SOURCE[0], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the ephemeral server did not start:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1]), _children_cpu() - cpu


def _repeat(times: int, measure: Callable[[], Sample]) -> list[Sample]:
    return [measure() for _ in range(times)]


def _row(label: str, samples: list[Sample], goal: float | None = None, command: str = "") -> None:
    walls = [wall for wall, _ in samples]
    spread = f"{min(walls):5.2f} / {statistics.median(walls):5.2f} / {max(walls):5.2f} s"
    cpu = f"{statistics.median(cpu for _, cpu in samples):5.2f} s"
    verdict = ""
    if goal is not None:
        met = sum(wall <= goal for wall in walls)
        verdict = "met" if met == len(walls) else f"met {met} of {len(walls)}" if met else "MISSED"
        verdict = f"≤ {goal:g} s: {verdict}"
    print(f"{label:<44} {spread}  {cpu}  {verdict:<18} {command}", flush=True)


def _prefect_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`prefect server start` on 127.0.0.1 (a Prefect home of its own), once it answers."""
    port = free_port()
    env = _env(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="false")
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("prefect server start did not answer within 180 s")


def _runs(work: Path, prefix: str, times: int, env: dict[str, str]) -> tuple[list[Sample], list[Sample]]:
    timed = [_run_once(_config(work, f"{prefix}{index}"), env) for index in range(times)]
    return [first for first, _ in timed], [ended for _, ended in timed]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose retouch is timed")
    args = parser.parse_args(argv)
    SOURCE[0] = args.source.resolve()
    work, n = Path(tempfile.mkdtemp(prefix="retouch-startup-")), args.repeats
    env = _env(PREFECT_HOME=str(work / "prefect-home"))
    print(f"retouch from {SOURCE[0]}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")
    print(f"{'figure':<44} {'wall min / median / max':>25}  {'CPU':>7}  {'goal':<18} command")
    _row("python -c pass", _repeat(n, lambda: _timed([sys.executable, "-c", "pass"], env)))
    _row("python -c 'import prefect'", _repeat(n, lambda: _timed([sys.executable, "-c", "import prefect"], env)))
    config = _config(work, "first")
    first_ever = _run_once(config, env)  # creates Prefect's database, once per Prefect home
    _row("run, ephemeral API, new Prefect home: image", [first_ever[0]])
    if (SOURCE[0] / "flows" / "api_start.py").exists():
        _row("Prefect's ephemeral server alone: healthy", _repeat(n, lambda: _server_alone(env)))
    validate = _repeat(n, lambda: _timed([*RETOUCH, "validate", str(config)], env))
    _row("retouch validate", validate, GOAL_CHECK, "retouch validate CONFIG")
    output = str(work / "out" / "first")
    _row("retouch show", _repeat(n, lambda: _timed([*RETOUCH, "show", output], env)), GOAL_CHECK, "retouch show OUT")
    first, ended = _runs(work, "ephemeral", n, env)
    _row("run 1 row, ephemeral API: first image", first, GOAL_FIRST_IMAGE, "retouch run CONFIG --yes")
    _row("run 1 row, ephemeral API: exit", ended)
    server, url = _prefect_server(work / "server-home")
    try:
        served_env = _env(PREFECT_HOME=str(work / "prefect-home"), PREFECT_API_URL=url)
        _run_once(_config(work, "warm"), served_env)  # a server's first run of a flow registers it
        first, ended = _runs(work, "served", n, served_env)
    finally:
        server.terminate()
        server.wait(timeout=30)
    served_command = "PREFECT_API_URL=… retouch run CONFIG --yes"
    _row("run 1 row, prefect server: first image", first, GOAL_FIRST_IMAGE, served_command)
    _row("run 1 row, prefect server: exit", ended)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
