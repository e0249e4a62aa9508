"""The run's progress in the Prefect UI: artifacts read back through the Prefect client equal the results table."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from prefect.client.orchestration import get_client

from flows.progress_artifacts import PROGRESS_KEY, TABLE_KEY
from tests.reports.conftest import Run

STATUSES = ("succeeded", "failed", "unknown", "skipped")


def artifacts(run: Run, key: str) -> list[dict[str, Any]]:
    """The flow run's artifacts under `key`, oldest first, as the Prefect API returns them."""
    query = {"flow_run_id": {"any_": [str(run.flow_run_id)]}, "key": {"any_": [key]}}
    # The filter sent whole: `read_artifacts` sends nulls for the filters left out, which this server refuses.
    body = {"artifacts": query, "sort": "CREATED_DESC", "limit": 200, "offset": 0}
    with get_client(sync_client=True) as client:
        found = client.request("POST", "/artifacts/filter", json=body).json()
    return list(reversed(found))


def test_the_table_artifact_ends_with_the_results_tables_counts_per_provider(run: Run) -> None:
    results = run.results()
    versions = artifacts(run, TABLE_KEY)

    first, last = (json.loads(version["data"]) for version in (versions[0], versions[-1]))
    assert len(versions) >= 2  # published as the run started, and again as it ended: updated, not written once
    assert all(row["done"] == 0 for row in first) and [row["planned"] for row in first] == [5, 5, 10]
    shown = {row["provider"]: row for row in last}
    for provider in ("local", "pixapi.edits"):
        mine = results.filter(pl.col("provider") == provider)
        counts = mine.group_by("status").agg(pl.col("job_key").n_unique()).rows()
        assert {status: shown[provider][status] for status in STATUSES} == {s: 0 for s in STATUSES} | dict(counts)
        assert shown[provider]["done"] == mine["job_key"].n_unique() and shown[provider]["in_flight"] == 0
        assert shown[provider]["images"] == mine.filter(pl.col("output_uri").is_not_null()).height
    assert shown["pixapi.edits"]["credits"] == results.filter(pl.col("provider") == "pixapi.edits")["credits"].sum()
    assert shown["total"]["done"] == results["job_key"].n_unique() == run.summary.to_run


def test_the_progress_artifact_is_one_artifact_updated_to_the_end(run: Run) -> None:
    (progress,) = artifacts(run, PROGRESS_KEY)  # one artifact, updated in place

    assert progress["data"] == 100.0
    done = run.results()["job_key"].n_unique()
    assert progress["description"] == f"run {run.summary.run_id} (finished): {done} of {done} jobs ended"
