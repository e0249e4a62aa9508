"""Hostile catalogs through real flow runs: the local provider, and remote providers on the sandbox.

Each hostile row must end as a failed row naming the row and its source, the good rows must succeed,
the internal service must see no request, no secret may reach a table, and the sandbox (the stand-in
for a paid provider) must receive nothing from a hostile row.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tasks.sandbox import SandboxServer
from tests.helpers import make_png, write_config
from tests.reliability.sources_kit import SECRET, Hostile, bomb_png, hostile_server, truncated_png
from tests.sandbox.helpers import fast_settings

pytestmark = pytest.mark.usefixtures("prefect_harness")
ENV_SECRET = "RETOUCH_SOURCES_TEST_SECRET"


@pytest.fixture(scope="module")
def server() -> Iterator[Hostile]:
    with hostile_server() as running:
        yield running


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(fast_settings()) as running:
        yield running


def _catalog(folder: Path, server: Hostile) -> tuple[Path, dict[str, str]]:
    """A catalog of 2 good rows and the hostile ones; returns its path and hostile row id -> source."""
    (folder / "images").mkdir(parents=True)
    outside = folder.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    make_png(outside / "photo.png")
    make_png(folder / "images" / "good-0.png", seed=1)
    make_png(folder / "images" / "good-1.png", seed=2)
    (folder / "images" / "bomb.png").write_bytes(bomb_png())
    (folder / "images" / "cut.png").write_bytes(truncated_png())
    (folder / "images" / "link.png").symlink_to(outside / "secret.txt")
    (folder / "linked").symlink_to(outside)
    base = server.base
    hostile = {
        "h-environ": "/proc/self/environ",
        "h-passwd": "/etc/passwd",
        "h-file-url": "file:///etc/hostname",
        "h-dotdot": "../../../../../../../etc/hostname",
        "h-symlink": "images/link.png",
        "h-symlink-dir": "linked/photo.png",
        "h-outside": str(outside / "photo.png"),
        "h-data-text": "data:text/plain;base64," + base64.b64encode(SECRET).decode(),
        "h-bomb": "images/bomb.png",
        "h-truncated": "images/cut.png",
        "h-loopback": f"{base}/secret",
        "h-redirects": f"{base}/hop/4",
        "h-metadata": "http://169.254.169.254/latest/meta-data/",
        "h-gzip-bomb": f"{base}/media/bomb",
    }
    rows = [("good-0", "images/good-0.png", None), ("good-1", "images/good-1.png", None)]
    rows += [(row, source, None) for row, source in hostile.items()]
    rows.append(("h-mask", "images/good-0.png", "/etc/passwd"))
    hostile["h-mask"] = "/etc/passwd"
    frame = pl.DataFrame(
        {
            "id": [row for row, _, _ in rows],
            "image": [image for _, image, _ in rows],
            "mask": [mask for _, _, mask in rows],
            "prompt": ["brightness 1.1"] * len(rows),
        }
    )
    frame.write_parquet(folder / "catalog.parquet")
    return folder / "catalog.parquet", hostile


def _sources(server: Hostile) -> dict[str, Any]:
    return {"allow": ["http://", f"{server.base}/hop/", f"{server.base}/media/"], "max_bytes": "2MB", "timeout": 20}


def _check_rows(table: pl.DataFrame, hostile: dict[str, str]) -> None:
    """Every hostile row failed with row and source named; nothing secret reached the table."""
    failed = table.filter(pl.col("row_id").str.starts_with("h-"))
    assert set(failed["row_id"]) == set(hostile)
    assert set(failed["status"]) == {"failed"} and failed["output_uri"].null_count() == failed.height
    assert set(failed["error_type"]) <= {"SourceRefused", "SourceError"}
    for row in failed.iter_rows(named=True):
        message = row["error_message"]
        assert f"row {row['row_id']}: " in message, message
        shown = hostile[row["row_id"]].split("?", 1)[0]
        assert shown[:20] in message or shown.rsplit("/", 1)[-1] in message, message
    text = " ".join(str(value) for value in table.select(pl.all().cast(pl.String)).to_numpy().ravel())
    assert SECRET.decode() not in text and "root:" not in text and os.environ[ENV_SECRET] not in text


def test_a_hostile_catalog_on_the_local_provider(
    tmp_path: Path, server: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_SECRET, "env-" + SECRET.decode())
    server.hits.clear()
    catalog, hostile = _catalog(tmp_path / "cat", server)
    config = {
        "catalog": {"uri": str(catalog), "columns": {"mask": "mask"}, "sources": _sources(server)},
        "edits": [{"name": "bright", "provider": "local", "seeds": [1]}],
        "output": {"uri": str(tmp_path / "out")},
    }
    summary = edit_catalog(str(write_config(tmp_path, config)))

    assert summary.counts == {"succeeded": 2, "failed": len(hostile)}
    _check_rows(pl.read_parquet(tmp_path / "out" / "results" / "*.parquet"), hostile)
    assert server.hits["/secret"] == 0 and server.hits["/hop/0"] == 1


def test_a_hostile_catalog_sends_the_paid_sandbox_nothing_but_the_good_rows(
    tmp_path: Path, server: Hostile, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_SECRET, "env-" + SECRET.decode())
    httpx.post(f"{sandbox.base_url}/_sandbox/reset").raise_for_status()
    server.hits.clear()
    catalog, hostile = _catalog(tmp_path / "cat", server)
    fast = {
        "api_key": "${RETOUCH_TEST_SANDBOX_KEY:-sandbox-key}",
        "poll_interval": 0.05,
        "retry": {"attempts": 3, "base": 0.05, "cap": 0.2},
    }
    config = {
        "catalog": {"uri": str(catalog), "sources": _sources(server)},
        "edits": [
            {"name": "px", "provider": "pixapi.edits", "model": "gemini-2.5-flash-image", "seeds": [1]},
            {"name": "pa", "provider": "picsart.edit", "seeds": [1], "params": {"format": "PNG"}},
        ],
        "providers": {
            "pixapi.edits": {"base_url": f"{sandbox.base_url}/pixapi", "mode": "async", **fast},
            "picsart.edit": {"base_url": f"{sandbox.base_url}/picsart/v1", "mode": "async", **fast},
        },
        "output": {"uri": str(tmp_path / "out")},
    }
    hostile.pop("h-mask")  # no mask column mapped here: that row is a third good one
    summary = edit_catalog(str(write_config(tmp_path, config)))

    assert summary.counts == {"succeeded": 6, "failed": 2 * len(hostile)}
    table = pl.read_parquet(tmp_path / "out" / "results" / "*.parquet")
    _check_rows(table.filter(pl.col("row_id") != "h-mask"), hostile)
    ledger = httpx.get(f"{sandbox.base_url}/_sandbox/ledger").json()["entries"]
    good_keys = set(table.filter(pl.col("status") == "succeeded")["job_key"])
    assert {entry["request_id"] for entry in ledger} == good_keys and len(ledger) == 6
    stats = httpx.get(f"{sandbox.base_url}/_sandbox/stats").json()
    assert stats["pixapi"]["jobs"] + stats["picsart"]["jobs"] == 6  # no hostile row reached a provider
    assert server.hits["/secret"] == 0
