"""The progress bar of `retouch run`: what the run is doing, and a clock that starts with the flow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tasks.pipeline.progress import listen

__all__ = ["run_progress"]


@contextmanager
def run_progress(console: Console, run_id: str, *, total: int, dry_run: bool) -> Iterator[None]:
    """Show "starting Prefect…" until the flow starts, then "planning", then "editing" as jobs go out.

    The clock starts when the flow does, so Prefect's own start-up (seconds with the ephemeral API) is not
    counted as the run's time. A dry run only plans: its bar says so and ends full.
    """
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        bar = progress.add_task("starting Prefect…", total=total, start=False)

        def on_phase(phase: str) -> None:
            if phase == "planning":
                progress.start_task(bar)
            progress.update(bar, description=f"{phase} (dry run)" if dry_run else phase)

        stop = listen(run_id, lambda status, images: progress.advance(bar), on_phase)
        try:
            yield
        finally:
            stop()
        if dry_run:
            progress.update(bar, description="planned (dry run)", completed=total)
