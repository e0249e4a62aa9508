"""Jobs that would fail, found before a run: prompts their provider cannot read, source images not there."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tasks.core.config import PipelineConfig
from tasks.core.errors import InputError
from tasks.core.models import EditJob, ImageRef
from tasks.providers.registry import provider_class
from tasks.storage.presence import SourceProblem, missing_source
from tasks.storage.source_policy import SourcePolicy

__all__ = ["REMOTE_SAMPLE", "RowChecker", "RowFindings", "RowProblem"]

# Object-store sources looked up (the first distinct ones): each lookup is a request. Every source is checked
# against the source policy and local files are all looked up (a stat each); http(s) sources are never
# fetched (that is the run's business, under its caps and address checks).
REMOTE_SAMPLE = 100
_SHOWN = 5  # row ids named per problem


@dataclass(frozen=True)
class RowProblem:
    """One kind of failure the run would meet: how many jobs, the first rows, and the first message."""

    what: str
    jobs: int
    rows: tuple[str, ...]
    message: str
    more_rows: bool = False  # rows beyond those named have it too


@dataclass(frozen=True)
class RowFindings:
    """What the row checks found, and how much of the catalog they could look at."""

    problems: tuple[RowProblem, ...] = ()
    local_files: int = 0
    remote_checked: int = 0
    remote_total: int = 0
    web_sources: int = 0

    @property
    def jobs_failing(self) -> int:
        return sum(problem.jobs for problem in self.problems)


@dataclass
class _Tally:
    jobs: int = 0
    rows: list[str] = field(default_factory=list)
    message: str = ""
    more_rows: bool = False


class RowChecker:
    """Looks at the jobs of a run as they stream past (the catalog is still read once).

    Usage: `for job in checker.watch(planner.jobs(), config): ...`, then `checker.findings()`.

    Args:
        sample: object-store sources to look up at most.
    """

    def __init__(self, *, sample: int = REMOTE_SAMPLE) -> None:
        self._options: dict[str, Any] = {}
        self._policy: SourcePolicy | None = None
        self._sample = sample
        self._prompts: dict[tuple[str, str], str | None] = {}
        self._sources: dict[str, SourceProblem | None] = {}
        self._tallies: dict[str, _Tally] = {}
        self._counts = {"local": 0, "remote": 0, "remote_total": 0, "web": 0}

    def watch(self, jobs: Iterable[EditJob], config: PipelineConfig) -> Iterator[EditJob]:
        """`jobs`, unchanged, each checked on its way through (`config`: the catalog's source policy)."""
        self._options = config.catalog.storage_options
        self._policy = SourcePolicy.for_catalog(config.catalog)
        for job in jobs:
            self._check(job)
            yield job

    def findings(self) -> RowFindings:
        problems = tuple(
            RowProblem(what, tally.jobs, tuple(tally.rows), tally.message, tally.more_rows)
            for what, tally in self._tallies.items()
        )
        counts = self._counts
        return RowFindings(problems, counts["local"], counts["remote"], counts["remote_total"], counts["web"])

    def _check(self, job: EditJob) -> None:
        prompt = self._prompt_problem(job)
        if prompt is not None:
            self._add(f"{job.provider} cannot read the prompt", job, prompt)
        for role, ref in (("image", job.image), ("mask", job.mask), ("image_context", job.image_context)):
            found = self._source_problem(ref) if ref is not None else None
            if found is not None:
                kind, message = found
                what = f"{role} refused by catalog.sources" if kind == "refused" else f"{role} not there"
                self._add(what, job, f"row {job.row_id}: {role} {message}")

    def _prompt_problem(self, job: EditJob) -> str | None:
        key = (job.provider, job.prompt)
        if key not in self._prompts:
            try:
                provider_class(job.provider).check_prompt(job.prompt)
                self._prompts[key] = None
            except InputError as error:
                self._prompts[key] = str(error)
        found = self._prompts[key]
        return None if found is None else f"row {job.row_id}: {found}"

    def _source_problem(self, ref: ImageRef) -> SourceProblem | None:
        if ref.identity in self._sources:
            return self._sources[ref.identity]
        assert self._policy is not None, "watch() sets the policy"
        kind, counts = _kind(ref), self._counts
        problem = None
        if kind in ("local", "web"):
            counts[kind] += 1
            problem = missing_source(ref, self._policy)
        elif kind == "remote":
            counts["remote_total"] += 1
            if counts["remote"] < self._sample:
                counts["remote"] += 1
                problem = missing_source(ref, self._policy, self._options)
        else:
            problem = missing_source(ref, self._policy)  # inline: always there and allowed
        self._sources[ref.identity] = problem
        return problem

    def _add(self, what: str, job: EditJob, message: str) -> None:
        tally = self._tallies.setdefault(what, _Tally(message=message))
        tally.jobs += 1
        if job.row_id not in tally.rows:
            if len(tally.rows) < _SHOWN:
                tally.rows.append(job.row_id)
            else:
                tally.more_rows = True


def _kind(ref: ImageRef) -> str:
    if ref.kind == "path":
        return "local"
    if ref.kind != "url":
        return "inline"
    return "web" if ref.value.startswith(("http://", "https://")) else "remote"
