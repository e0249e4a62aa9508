"""The runs of one output, read back from their manifests: what `retouch runs` lists and `report` picks."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.core.errors import StorageError
from tasks.pipeline.manifest import RunSummary, read_manifest
from tasks.storage.fs import Storage
from tasks.storage.layout import RUNS_DIR, run_id_of_manifest

__all__ = ["default_report_run", "did_work", "list_runs", "resolve_run", "run_ids"]


def run_ids(storage: Storage) -> list[str]:
    """Every run with a manifest under the output, oldest first (run ids sort by their start time)."""
    return [run_id_of_manifest(path) for path in storage.list(RUNS_DIR, ".json")]


def list_runs(storage: Storage) -> list[RunSummary]:
    """Every run's manifest under the output, oldest first.

    Raises:
        StorageError: a manifest cannot be read as one (the message names it).
    """
    manifests = (read_manifest(storage, run_id) for run_id in run_ids(storage))
    return [manifest for manifest in manifests if manifest is not None]


def did_work(run: RunSummary) -> bool:
    """True when the run sent or settled at least one job: not a dry run, not a "nothing to do" re-run."""
    return not run.dry_run and (run.to_run > 0 or sum(run.counts.values()) > 0)


def default_report_run(runs: Sequence[RunSummary]) -> str | None:
    """The run a report shows when none is named: the newest that did work, else the newest of all.

    A re-run that found everything done writes a manifest too; reporting it would show an empty page.
    """
    worked = [run for run in runs if did_work(run)]
    chosen = worked[-1] if worked else (runs[-1] if runs else None)
    return chosen.run_id if chosen else None


def resolve_run(storage: Storage, run_id: str | None) -> str:
    """The run to report: `run_id` if the output has it, else `default_report_run` of its runs.

    Raises:
        StorageError: the output has no runs, or not this one; the message lists those it has.
    """
    known = run_ids(storage)
    chosen = run_id or default_report_run(list_runs(storage))
    if chosen is None or chosen not in known:
        raise StorageError(_no_such_run(storage.uri, chosen, known), uri=storage.uri)
    return chosen


def _no_such_run(output_uri: str, run_id: str | None, known: Sequence[str]) -> str:
    if not known:
        return f"no runs under {output_uri} yet (runs/ holds no manifest): run `retouch run CONFIG` first"
    shown = ", ".join(known[-10:]) + (f" (and {len(known) - 10} older)" if len(known) > 10 else "")
    return f"no run {run_id} under {output_uri}; runs there: {shown} (list them with `retouch runs`)"
