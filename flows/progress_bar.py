"""The progress bars of `retouch run`: the run's phase and jobs, then one bar per provider with its numbers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from flows.progress_view import progress_line
from tasks.pipeline.progress import STARTED, WITHDRAWN, JobEvent, listen
from tasks.pipeline.tally import RunTally

__all__ = ["run_progress"]


class _ProviderNumbers(ProgressColumn):
    """Done / failed / in flight, rate, ETA and spend of the provider a bar stands for (blank on the run's bar)."""

    def __init__(self, tally: RunTally, currency: str) -> None:
        super().__init__()
        self._tally = tally
        self._currency = currency

    def render(self, task: Task) -> Text:
        name = task.fields.get("provider")
        if name is None:
            return Text("")
        found = [p for p in self._tally.snapshot().providers if p.provider == name]
        return Text(progress_line(found[0], self._currency) if found else "", style="dim")


@contextmanager
def run_progress(
    console: Console,
    run_id: str,
    *,
    total: int,
    dry_run: bool,
    planned: Mapping[str, int] | None = None,
    currency: str = "",
) -> Iterator[None]:
    """Show "starting Prefect…" until the flow starts, then "planning", then "editing" as jobs go out.

    The clock starts when the flow does, so Prefect's own start-up (seconds with the ephemeral API) is not
    counted as the run's time. A dry run only plans: its bar says so and ends full. Below the run's bar,
    one bar per provider in `planned` (jobs to run by provider) shows its jobs done, failed and in flight,
    its rate, the time left at that rate and what it has spent so far (in `currency`).
    """
    tally = RunTally(planned or {})
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        _ProviderNumbers(tally, currency),
        console=console,
        transient=False,
    )
    with progress:
        bar = progress.add_task("starting Prefect…", total=total, start=False)
        bars = (
            {}
            if dry_run
            else {
                name: progress.add_task(f"  {name}", total=jobs, provider=name)
                for name, jobs in (planned or {}).items()
            }
        )

        def on_phase(phase: str) -> None:
            if phase == "planning":
                progress.start_task(bar)
            progress.update(bar, description=f"{phase} (dry run)" if dry_run else phase)

        def on_event(event: JobEvent) -> None:
            tally.add(event)
            if event.provider in bars and event.status not in (STARTED, WITHDRAWN):
                progress.advance(bars[event.provider])

        stop = listen(run_id, lambda status, images: progress.advance(bar), on_phase, on_event)
        try:
            yield
        finally:
            stop()
        if dry_run:
            progress.update(bar, description="planned (dry run)", completed=total)
