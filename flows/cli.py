"""The `retouch` command line: run, validate, show."""

from __future__ import annotations

import os

# Before Prefect is imported: no telemetry leaves the machine, and the console is for our progress bar.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from pathlib import Path  # noqa: E402
from typing import Annotated, Any, Optional  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from flows.summary import print_run_summary, print_results_summary  # noqa: E402
from tasks.errors import CatalogError, ConfigError, StorageError  # noqa: E402

app = typer.Typer(help="retouch: declarative dataset-scale AI image editing.", no_args_is_help=True, add_completion=False)
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="The pipeline config (YAML).", exists=False)]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", min=1, help="Edit only the first N catalog rows.")]


def _fail(error: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)
    raise typer.Exit(code=2)


@app.command()
def run(
    config: ConfigArg,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and count; edit nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-run jobs that already succeeded.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Edit the catalog as the config says, then print a summary."""
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    from flows.edit_catalog import edit_catalog, prepare
    from tasks.progress import listen
    from tasks.run import new_run_id

    try:
        loaded, rows = prepare(str(config), limit=limit)
    except (ConfigError, CatalogError) as error:
        _fail(error)
    jobs_per_row = sum(len(edit.seeds) for edit in loaded.edits)
    run_id = new_run_id()
    with _progress() as progress:
        bar = progress.add_task("editing", total=rows * jobs_per_row)
        stop = listen(run_id, lambda status, images: progress.advance(bar))
        try:
            summary = edit_catalog(str(config), limit=limit, force=force, dry_run=dry_run, run_id=run_id)
        except (ConfigError, CatalogError, StorageError) as error:
            _fail(error)
        finally:
            stop()
    print_run_summary(console, summary)


@app.command()
def validate(config: ConfigArg, limit: LimitOpt = None) -> None:
    """Check the config and the whole catalog, and count the jobs; edits nothing."""
    from flows.edit_catalog import prepare
    from tasks.storage.fs import Storage
    from tasks.storage.tables import succeeded_keys

    try:
        loaded, rows = prepare(str(config), limit=limit)
        done = len(succeeded_keys(Storage(loaded.output.uri, loaded.output.storage_options)))
    except (ConfigError, CatalogError, StorageError) as error:
        _fail(error)
    console.print(f"[green]config OK[/]: {config}")
    console.print(f"catalog: {loaded.catalog.uri} — {rows} rows")
    for edit in loaded.edits:
        console.print(f"  {edit.name}: {edit.provider} × {len(edit.seeds)} seed(s) × count {edit.count} → {rows * len(edit.seeds)} jobs")
    total = rows * sum(len(edit.seeds) for edit in loaded.edits)
    console.print(f"jobs: {total}; already succeeded under {loaded.output.uri}: {done}")


@app.command()
def show(
    output_uri: Annotated[str, typer.Argument(help="The output.uri of a run (local path or fsspec URL).")],
    rows: Annotated[int, typer.Option("--rows", min=0, help="How many result rows to print.")] = 5,
) -> None:
    """Summarise a results table: counts by variant and status, failures, a few rows."""
    from tasks.storage.fs import Storage
    from tasks.storage.tables import read_results

    try:
        frame = read_results(Storage(output_uri))
    except StorageError as error:
        _fail(error)
    print_results_summary(console, frame, output_uri, rows=rows)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    )


def main() -> Any:
    return app()


if __name__ == "__main__":
    main()
