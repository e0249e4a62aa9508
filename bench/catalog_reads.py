"""Catalog reads per `retouch run`: how many full passes over the catalog one run makes.

    python bench/catalog_reads.py [configs/demo.yaml configs/sandbox.yaml] [--rows N] [--dry-run]

Runs the command line in this process with the config's catalog served through a counting fsspec
filesystem, and prints the full reads per run. A full pass opens the Parquet file a fixed number of
times (pyarrow probes the footer, then scans), measured first on one pass of the same catalog.
Configs that name remote providers run against an in-process sandbox.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import fsspec
import yaml
from common import ROOT, goal
from fsspec.implementations.local import LocalFileSystem

OPENS: Counter[str] = Counter()


class CountingFileSystem(LocalFileSystem):
    """The local filesystem under `counting://`, counting every file it opens."""

    protocol = "counting"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        OPENS[str(self._strip_protocol(path))] += 1
        return super()._open(path, mode, **kwargs)


fsspec.register_implementation("counting", CountingFileSystem, clobber=True)


def opens_per_pass(config_path: Path, catalog: str) -> int:
    from tasks.core.config import load_config
    from tasks.pipeline.catalog import iter_catalog

    OPENS.clear()
    for _ in iter_catalog(load_config(config_path).catalog):
        pass
    return OPENS[catalog]


def counted_config(source: Path, scratch: Path, rows: int | None) -> tuple[Path, str]:
    raw = yaml.safe_load(source.read_text())
    catalog = str((ROOT / raw["catalog"]["uri"]).resolve())
    raw["catalog"]["uri"] = f"counting://{catalog}"
    if rows:
        raw["catalog"]["limit"] = rows
    raw["output"]["uri"] = str(scratch / "out")
    for settings in (raw.get("providers") or {}).values():
        if isinstance(settings, dict) and "poll_interval" in settings:
            settings["poll_interval"] = 0.05
    path = scratch / source.name
    path.write_text(yaml.safe_dump(raw))
    return path, catalog


def reads_per_run(source: Path, rows: int | None, dry_run: bool) -> float:
    from typer.testing import CliRunner

    from flows.cli import app

    with tempfile.TemporaryDirectory(prefix="retouch-reads-") as scratch:
        config, catalog = counted_config(source, Path(scratch), rows)
        per_pass = opens_per_pass(config, catalog)
        OPENS.clear()
        result = CliRunner().invoke(app, ["run", str(config), "--force", *(["--dry-run"] if dry_run else [])])
        if result.exit_code != 0:
            raise SystemExit(f"retouch run {source} exited {result.exit_code}:\n{result.output}")
        return OPENS[catalog] / per_pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=["configs/demo.yaml", "configs/sandbox.yaml"])
    parser.add_argument("--rows", type=int, default=4, help="catalog.limit for the runs (0: every row)")
    parser.add_argument("--dry-run", action="store_true", help="count a dry run's reads instead")
    args = parser.parse_args()
    from tasks.sandbox import SandboxServer, SandboxSettings

    fast = SandboxSettings.model_validate({name: {"async_seconds": 0.05} for name in ("picsart", "pixapi", "fashn")})
    with SandboxServer(fast) as sandbox:
        os.environ["RETOUCH_SANDBOX_URL"] = sandbox.base_url
        for name in args.configs:
            config = yaml.safe_load((ROOT / name).read_text())
            providers = sorted({edit["provider"] for edit in config["edits"]})
            reads = reads_per_run(ROOT / name, args.rows or None, args.dry_run)
            # Two passes: the prepare pass (counts, forecast) and the planning pass, however many streams.
            goal(f"{name}: {len(providers)} provider stream(s), full catalog reads per run", reads, 2, digits=1)


if __name__ == "__main__":
    main()
