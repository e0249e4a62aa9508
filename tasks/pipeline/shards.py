"""The plan of one run: one streaming pass over the catalog yields the jobs still to run, and their counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, replace

from tasks.core.config import PipelineConfig
from tasks.core.models import EditJob
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.chains import Chains
from tasks.pipeline.plan import plan_jobs, providers_in_use
from tasks.storage.fs import Storage
from tasks.storage.results import PriorWork, job_identity, prior_work

__all__ = ["PlanCounts", "Planner", "RetrySelection", "load_prior", "shards_of"]


@dataclass(frozen=True)
class PlanCounts:
    """How this run's jobs relate to earlier runs' (an incremental refresh reports these).

    Every job to run is exactly one of: new, changed (its row's content changed), retried (it ended
    unsuccessfully before) or forced (it succeeded before and `--force` runs it again). `passed_over` counts
    the jobs `--only-failed` left out (new, changed, or unsuccessful but not of the chosen error types).
    """

    planned: int = 0
    already_done: int = 0
    to_run: int = 0
    new: int = 0
    changed: int = 0
    retried: int = 0
    forced: int = 0
    removed: int = 0
    held_unknown: int = 0
    passed_over: int = 0


@dataclass(frozen=True)
class RetrySelection:
    """`retouch run --only-failed`: run again just the jobs that ended unsuccessfully, nothing new.

    Args:
        error_types: only jobs whose latest error is one of these (e.g. `ProviderTimeout`); empty: any.
        unknown: also re-send jobs held with an unknown outcome. They may exist and be billed already:
            re-sending them may pay twice (the operator's call, as with `resubmit_unknown`).
    """

    error_types: frozenset[str] = frozenset()
    unknown: bool = False

    def admits(self, key: str, prior: PriorWork) -> bool:
        """Whether the job `key` is one to run again."""
        if key not in prior.tried or (key in prior.unknown and not self.unknown):
            return False
        return not self.error_types or prior.errors.get(key) in self.error_types


def load_prior(storage: Storage, *, force: bool = False) -> PriorWork:
    """What earlier runs finished under `storage`; with `force`, no job counts as done.

    Jobs with an unknown outcome stay held even with `force`: re-sending them risks paying twice.
    """
    prior = prior_work(storage)
    return replace(prior, done=set()) if force else prior


class Planner:
    """One pass over the catalog: every provider's jobs not yet done, in catalog order, counted as they go.

    Unchanged jobs (key already succeeded) are skipped. Of the rest, a job whose key succeeded before
    (run again by `force`) is forced; a key that ended unsuccessfully before is retried; a job whose (row,
    variant, seed) succeeded before under another key is changed; the rest are new. Slots of earlier runs
    the pass never reached are counted as removed once it has ended. A chain an earlier run left open
    (`chains`) is planned at the step it is due, counted as retried; one that is over counts as done.

    Args:
        config: the pipeline config.
        prior: what earlier runs finished (see `load_prior`).
        limit: plan only the first N catalog rows (overrides catalog.limit).
        on_skip: called for each job skipped as already done, held or passed over (a progress bar advances).
        only: run only the unsuccessful jobs it admits (`--only-failed`); None: every job not yet done.
        chains: the chains earlier runs left (`open_chains`); None: every chain starts at its first job.
    """

    def __init__(
        self,
        config: PipelineConfig,
        prior: PriorWork,
        *,
        limit: int | None = None,
        on_skip: Callable[[], None] | None = None,
        only: RetrySelection | None = None,
        chains: Chains | None = None,
    ) -> None:
        self._config = config
        self._chains = chains
        self._prior = prior
        self._only = only
        self._limit = limit
        self._on_skip = on_skip
        self._unseen = dict(prior.latest)
        self._tally = _Tally()
        self._rows = 0
        self._ended = False
        self._may_resubmit = {
            name: config.provider_settings(name).resubmit_unknown for name in providers_in_use(config)
        }

    @property
    def rows(self) -> int:
        """Catalog rows read so far (after the filter and limit); all of them once the pass has ended."""
        return self._rows

    def jobs(self) -> Iterator[EditJob]:
        """The jobs to run, generated lazily: memory holds one catalog batch.

        Raises:
            CatalogError: the catalog cannot be read or a row is invalid (see `iter_catalog`).
        """
        for batch in iter_catalog(self._config.catalog, limit=self._limit):
            self._rows += len(batch)
            for job in plan_jobs(batch, self._config):
                due = job if self._chains is None else self._chains.step(job)
                if due is None:
                    self._over(job)
                elif self._wanted(due, job):
                    yield due
        self._ended = True

    def counts(self) -> PlanCounts:
        """The counts so far; `removed` is known once the pass has ended (0 before)."""
        return PlanCounts(**self._tally.as_dict(), removed=len(self._unseen) if self._ended else 0)

    def _over(self, first: EditJob) -> None:
        """A chain with nothing left to try (accepted, or out of attempts or of its cost cap) counts as done."""
        self._tally.planned += 1
        self._unseen.pop(job_identity(first.row_id, first.variant, first.seed), None)
        self._tally.already_done += 1
        self._skipped()

    def _wanted(self, job: EditJob, first: EditJob) -> bool:
        """Whether to run `job`: `first` itself, or the step its chain is due (its slot is `first`'s)."""
        tally, prior = self._tally, self._prior
        tally.planned += 1
        previous = self._unseen.pop(job_identity(first.row_id, first.variant, first.seed), None)
        done = job.job_key in prior.done
        unknown = job.job_key in prior.unknown
        if self._only is not None and not done:
            chosen = self._only.admits(job.job_key, prior)
            if not chosen:  # left out by --only-failed: a held job still counts as held
                tally.held_unknown += unknown
                tally.passed_over += not unknown
                return self._skipped()
        elif done or (unknown and not self._may_resubmit[job.provider]):
            # An unknown-outcome job may exist at the provider: re-sending it risks paying twice.
            tally.already_done += done
            tally.held_unknown += not done
            return self._skipped()
        tally.to_run += 1
        if job.job_key != first.job_key:
            tally.retried += 1  # a chain resumed at its next step: its last output was rejected
        else:
            tally.classify(job.job_key, previous, prior)
        return True

    def _skipped(self) -> bool:
        if self._on_skip is not None:
            self._on_skip()
        return False


def shards_of(jobs: Iterable[EditJob], size: int) -> Iterator[list[EditJob]]:
    """`jobs` cut into lists of `size` (the last one may be shorter)."""
    shard: list[EditJob] = []
    for job in jobs:
        shard.append(job)
        if len(shard) >= size:
            yield shard
            shard = []
    if shard:
        yield shard


@dataclass
class _Tally:
    """The planner's own running counts (frozen into `PlanCounts` when asked)."""

    planned: int = 0
    already_done: int = 0
    to_run: int = 0
    new: int = 0
    changed: int = 0
    retried: int = 0
    forced: int = 0
    held_unknown: int = 0
    passed_over: int = 0

    def classify(self, key: str, previous: str | None, prior: PriorWork) -> None:
        """Count a job to run as forced, retried, changed or new (in that order of precedence)."""
        if previous == key:
            self.forced += 1  # its slot's latest success is this very key: only force runs it again
        elif key in prior.tried:
            self.retried += 1
        elif previous is not None:
            self.changed += 1
        else:
            self.new += 1

    def as_dict(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}
