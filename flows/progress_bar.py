"""The progress of `retouch run`: the run's phase and jobs, then each provider's numbers in a table below."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

from flows.progress_view import provider_table
from tasks.pipeline.progress import listen
from tasks.pipeline.tally import RunTally

__all__ = ["run_progress"]


class _RunProgress(Progress):
    """The run's bar, then a table of the providers' numbers, redrawn from the tally at every refresh."""

    def __init__(self, tally: RunTally, currency: str, *columns: ProgressColumn, console: Console) -> None:
        self._tally = tally
        self._currency = currency
        self.show_providers = False
        super().__init__(*columns, console=console, transient=False)  # renders once: the fields must exist

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.show_providers:
            yield provider_table(self._tally.snapshot(), self._currency)


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
    counted as the run's time. A dry run only plans: its bar says so and ends full. While editing, a table
    below the bar shows each provider in `planned` (jobs to run by provider): jobs done of planned, failed
    and in flight, its rate, the time left at that rate and what it has spent so far (in `currency`).
    """
    tally = RunTally(planned or {})
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = _RunProgress(tally, currency, *columns, console=console)
    with progress:
        bar = progress.add_task("starting Prefect…", total=total, start=False)

        def on_phase(phase: str) -> None:
            if phase == "planning":
                progress.start_task(bar)
            if phase == "editing":
                progress.show_providers = bool(planned)
            progress.update(bar, description=f"{phase} (dry run)" if dry_run else phase)

        stop = listen(run_id, lambda status, images: progress.advance(bar), on_phase, tally.add)
        try:
            yield
        finally:
            stop()
        if dry_run:
            progress.update(bar, description="planned (dry run)", completed=total)
