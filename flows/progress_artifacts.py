"""The run's progress in the Prefect UI: a progress artifact and a per-provider table artifact, kept current."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact

from flows.progress_view import progress_rows
from tasks.pipeline.progress_feed import DEFAULT_INTERVAL, ProgressFeed
from tasks.pipeline.tally import ProgressSnapshot

__all__ = ["PROGRESS_KEY", "TABLE_KEY", "PrefectProgressSink", "progress_artifacts"]

PROGRESS_KEY = "retouch-progress"
TABLE_KEY = "retouch-provider-progress"
_log = logging.getLogger(__name__)


class PrefectProgressSink:
    """Publishes snapshots as Prefect artifacts: one progress artifact updated in place, and a new version of
    the table artifact each time (Prefect's tables cannot be updated; the UI shows a key's latest).

    Args:
        run_id: named in the artifacts' descriptions.
        currency: the price table's currency, for spend.
    """

    def __init__(self, run_id: str, currency: str) -> None:
        self._run_id = run_id
        self._currency = currency
        self._progress_id: UUID | None = None
        self._failed = False

    def publish(self, snapshot: ProgressSnapshot) -> None:
        """Create or update the artifacts; a failure is logged once and never stops the run."""
        description = self._description(snapshot)
        try:
            if self._progress_id is None:
                created = create_progress_artifact(progress=snapshot.percent, key=PROGRESS_KEY, description=description)
                self._progress_id = cast(UUID, created)  # a sync flow: the call returns the id
            else:
                update_progress_artifact(self._progress_id, snapshot.percent, description=description)
            rows = progress_rows(snapshot, self._currency)
            create_table_artifact(table=rows, key=TABLE_KEY, description=description)
        # The artifacts only show progress: whatever the API raises (its client's errors are many types),
        # the run's own work and records are unaffected, so it is noted and the run goes on.
        except Exception as error:
            if not self._failed:
                _log.warning("run %s: progress artifacts not updated: %s", self._run_id, error)
            self._failed = True

    def _description(self, snapshot: ProgressSnapshot) -> str:
        state = "finished" if snapshot.finished else "running"
        return f"run {self._run_id} ({state}): {snapshot.done:,} of {snapshot.planned:,} jobs ended"


@contextmanager
def progress_artifacts(
    run_id: str, planned: Mapping[str, int], currency: str, *, interval: float = DEFAULT_INTERVAL
) -> Iterator[ProgressFeed]:
    """Keep the run's progress artifacts current while the block runs (call it inside the flow run).

    Args:
        run_id: the run.
        planned: jobs to run by provider.
        currency: the price table's currency.
        interval: seconds between updates.
    """
    with ProgressFeed(run_id, planned, PrefectProgressSink(run_id, currency), interval=interval) as feed:
        yield feed
