"""One real run shared by the report-page and progress tests: a local and a sandboxed provider, some failures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.pipeline.manifest import RunSummary
from tasks.sandbox import SandboxServer, SandboxSettings
from tests.helpers import local_config, make_catalog, make_png, write_config

SCRIPT_PROMPT = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Run:
    """A finished run: its config, output folder, summary, Prefect flow run and results rows."""

    config: Path
    output: Path
    summary: RunSummary
    flow_run_id: UUID
    outside: Path  # an image outside the catalog's folder, that row S3 names: the source policy refuses it

    def results(self) -> pl.DataFrame:
        return pl.read_parquet(self.output / "results" / "*.parquet").filter(pl.col("run_id") == self.summary.run_id)


@pytest.fixture(scope="package")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings.model_validate({"pixapi": {"async_seconds": 0.05}})) as server:
        yield server


@pytest.fixture(scope="package")
def run(sandbox: SandboxServer, prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """5 rows × (local as written + pixapi on the sandbox): a prompt with markup fails on both providers, and
    row S3's source sits outside the catalog's folder, so the source policy refuses it."""
    root = tmp_path_factory.mktemp("report-run")
    outside = root / "elsewhere" / "secret.png"
    make_png(outside, seed=9)
    folder = root / "project"
    prompts = ["brightness 1.2", SCRIPT_PROMPT, "grayscale", "blur", "rotate 90"]
    catalog = make_catalog(folder, rows=5, prompts=prompts)
    frame = pl.read_parquet(catalog)
    frame.with_columns(
        pl.when(pl.col("sku") == "S3").then(pl.lit(str(outside))).otherwise(pl.col("src")).alias("src")
    ).write_parquet(catalog)
    edits = [
        {"name": "as_written", "provider": "local", "seeds": [1]},
        {
            "name": "pixapi",
            "provider": "pixapi.edits",
            "model": "gemini-2.5-flash-image",
            "prompt": "{prompt}, then grayscale",
            "params": {"response_format": "b64_json"},
            "seeds": [1],
        },
    ]
    providers = {
        "pixapi.edits": {
            "base_url": f"{sandbox.base_url}/pixapi",
            "api_key": "${RETOUCH_TEST_UNSET_KEY:-sandbox-key}",
            "mode": "async",
            "poll_interval": 0.05,
        }
    }
    config = write_config(folder, local_config(catalog, folder / "out", edits, providers=providers))
    state = edit_catalog(str(config), return_state=True)
    summary = state.result()
    return Run(config, folder / "out", summary, state.state_details.flow_run_id, outside)
