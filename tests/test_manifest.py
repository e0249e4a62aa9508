"""Run manifests: one typed summary written and read by one module, older manifests included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tasks.core.errors import StorageError
from tasks.costs import Forecast, ForecastGroup
from tasks.pipeline.manifest import RunSummary, latest_run_id, read_manifest, write_manifest
from tasks.pipeline.shards import PlanCounts
from tasks.storage.fs import Storage

RUN = "20260301T100000Z-abc123"
# Written by the manifest writer before the summary was typed (keys sorted, times as ISO strings).
OLD_MANIFEST = """{
  "already_done": 0, "billing_risk": 0, "budget_stop": [], "changed": 0, "config_hash": "4384d33ccb590889",
  "cost": 0.0, "counts": {"succeeded": 3}, "credits": 6.0, "currency": "USD", "dry_run": false,
  "finished_at": "2026-03-01T10:00:12.500000+00:00",
  "forecast": {"at": "2026-03-01", "currency": "USD", "durations": [], "groups": [{"images": 3, "jobs": 3,
    "known_credits": 6.0, "known_money": 0.12, "model": "gemini-2.5-flash-image", "provider": "pixapi.edits",
    "unknown_jobs": 0, "variant": "v"}]},
  "held_unknown": 0, "images": 3, "new": 3, "output_uri": "out", "planned": 3, "removed": 0,
  "results_uri": "out/results", "run_id": "20260301T100000Z-abc123", "seconds": 12.5, "shards": 0,
  "started_at": "2026-03-01T10:00:00+00:00", "to_run": 3
}"""


def test_a_manifest_written_before_the_summary_was_typed_still_reads(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    storage.write_bytes(f"runs/{RUN}.json", OLD_MANIFEST.encode())
    manifest = read_manifest(storage, RUN)
    assert manifest is not None and latest_run_id(storage) == RUN
    assert manifest.plan == PlanCounts(planned=3, to_run=3, new=3) and manifest.counts == {"succeeded": 3}
    assert manifest.started_at == datetime(2026, 3, 1, 10, tzinfo=UTC) and manifest.seconds == 12.5
    group = ForecastGroup("pixapi.edits", "gemini-2.5-flash-image", "v", 3, 3, 6.0, 0.12, 0)
    assert manifest.forecast == Forecast(date(2026, 3, 1), "USD", (group,))
    assert manifest.manifest_uri == storage.url(f"runs/{RUN}.json")


def test_a_summary_round_trips_and_a_missing_or_broken_manifest_is_told_apart(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    summary = RunSummary(
        run_id=RUN, output_uri=str(tmp_path), results_uri="r", config_hash="h", started_at=datetime.now(UTC)
    )
    uri = write_manifest(storage, summary)
    assert "manifest_uri" not in Path(uri).read_text()  # where it lies is the reader's to know
    assert read_manifest(storage, RUN) == summary.model_copy(update={"manifest_uri": uri})
    assert read_manifest(storage, "20260302T000000Z-none00") is None
    storage.write_bytes("runs/20260302T000000Z-bad000.json", b'{"run_id": 3}')
    with pytest.raises(StorageError, match=r"runs/20260302T000000Z-bad000\.json is not a run manifest"):
        read_manifest(storage, "20260302T000000Z-bad000")
