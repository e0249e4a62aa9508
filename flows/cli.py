"""The `retouch` command line: run, validate, forecast, show, report, compact, sandbox."""

from __future__ import annotations

import os

# Before Prefect is imported: no telemetry leaves the machine, and the console is for our progress bar.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.summary import print_results_summary, print_run_summary
from tasks.core.errors import BudgetExceeded, CatalogError, ConfigError, StorageError

app = typer.Typer(
    help="retouch: declarative dataset-scale AI image editing.", no_args_is_help=True, add_completion=False
)
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="The pipeline config (YAML).", exists=False)]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Edit only the first N catalog rows.")]


def _fail(error: Exception, code: int = 2) -> None:
    # Escaped: a message may hold brackets rich would take for markup (an Arrow type like date32[day]).
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", markup=True, highlight=False)
    raise typer.Exit(code=code)


def _output_target(target: str) -> tuple[str, dict[str, Any]]:
    """An output URI as given, or a config file's output.uri and storage options."""
    if target.endswith((".yaml", ".yml")) and Path(target).is_file():
        from tasks.core.config import load_config

        output = load_config(target).output
        return output.uri, dict(output.storage_options)
    return target, {}


@app.command()
def run(
    config: ConfigArg,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and count; edit nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-run jobs that already succeeded.")] = False,
    proceed_to_cap: Annotated[
        bool, typer.Option("--proceed-to-cap", help="If the forecast is over budget, edit up to the cap.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Forecast, then edit the catalog as the config says, then print a summary."""
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    from flows.edit_catalog import edit_catalog
    from tasks.pipeline.manifest import new_run_id
    from tasks.pipeline.progress import listen
    from tasks.prepare import prepare_config

    try:  # before Prefect starts: a bad config or catalog stops here, fast, with nothing sent
        prepared = prepare_config(str(config), limit=limit, force=force)
    except (ConfigError, CatalogError, StorageError) as error:
        _fail(error)
    run_id = new_run_id()
    with _progress() as progress:
        bar = progress.add_task("editing", total=0 if dry_run else prepared.plan.planned)
        stop = listen(run_id, lambda status, images: progress.advance(bar))
        try:
            summary = edit_catalog(prepared=prepared, dry_run=dry_run, run_id=run_id, proceed_to_cap=proceed_to_cap)
        except (ConfigError, CatalogError, StorageError) as error:
            _fail(error)
        except BudgetExceeded as error:
            _fail(error, code=3)
        finally:
            stop()
    if dry_run and summary.forecast is not None:
        from tasks.reports import forecast_markdown

        console.print(Markdown(forecast_markdown(summary.forecast)))
    print_run_summary(console, summary)


@app.command()
def validate(config: ConfigArg, limit: LimitOpt = None) -> None:
    """Check the config and the whole catalog, and count and price the jobs; edits nothing."""
    from tasks.prepare import prepare_config

    try:
        prepared = prepare_config(str(config), limit=limit)
    except (ConfigError, CatalogError, StorageError) as error:
        _fail(error)
    rows, output = prepared.rows, prepared.config.output.uri
    console.print(f"[green]config OK[/]: {config}")
    console.print(f"catalog: {prepared.config.catalog.uri} — {rows} rows")
    for edit in prepared.config.edits:
        console.print(
            f"  {edit.name}: {edit.provider} × {len(edit.seeds)} seed(s) × count {edit.count}"
            f" → {rows * len(edit.seeds)} jobs"
        )
    console.print(f"jobs: {prepared.plan.planned}; already succeeded under {output}: {prepared.plan.already_done}")


@app.command()
def forecast(config: ConfigArg, limit: LimitOpt = None) -> None:
    """Price the jobs a run would send (done work skipped) and estimate its duration; calls no provider."""
    from flows.forecast import forecast_catalog

    try:
        result = forecast_catalog(str(config), limit=limit)
    except (ConfigError, CatalogError, StorageError) as error:
        _fail(error)
    console.print(Markdown(result.markdown))
    console.print(f"forecast table: {result.uri}")
    for line in result.over_budget:
        console.print(f"[yellow]over budget:[/] {line}")


@app.command()
def show(
    target: Annotated[str, typer.Argument(help="A run's output.uri (local path or fsspec URL), or its config file.")],
    rows: Annotated[int, typer.Option("--rows", min=0, help="How many result rows to print.")] = 5,
) -> None:
    """Summarise a results table: counts by variant and status, failures, a few rows."""
    from tasks.storage.fs import Storage
    from tasks.storage.results import read_results

    try:
        uri, options = _output_target(target)
        frame = read_results(Storage(uri, options))
    except (ConfigError, StorageError) as error:
        _fail(error)
    print_results_summary(console, frame, uri, rows=rows)


@app.command()
def report(
    target: Annotated[str, typer.Argument(help="A run's output.uri, or its config file.")],
    run_id: Annotated[str | None, typer.Option("--run", help="The run to report (default: the newest).")] = None,
) -> None:
    """Actual cost against forecast for a run, its spend chart, and the monthly picture across runs."""
    from flows.report import cost_report

    try:
        uri, options = _output_target(target)
        result = cost_report(uri, run_id=run_id, storage_options=options)
    except (ConfigError, StorageError) as error:
        _fail(error)
    console.print(Markdown(result.markdown))
    console.print(Markdown(result.monthly))
    console.print(f"written: {', '.join(sorted(result.uris.values()))}", highlight=False)


@app.command()
def compact(
    target: Annotated[str, typer.Argument(help="A run's output.uri (local path or fsspec URL), or its config file.")],
) -> None:
    """Merge the Parquet parts of results/ and costs/ into few, one succeeded row per job; not while a run holds it."""
    from tasks.pipeline.tables import OUTPUT_TABLES
    from tasks.storage.compact import compact_output
    from tasks.storage.fs import Storage

    try:
        uri, options = _output_target(target)
        done = compact_output(Storage(uri, options), OUTPUT_TABLES)
    except (ConfigError, CatalogError, StorageError) as error:
        _fail(error)
    for table in done:
        console.print(
            f"{table.folder}/: {table.parts_before} parts → {table.parts_after}, "
            f"{table.rows_before} rows → {table.rows_after}",
            highlight=False,
        )


@app.command()
def sandbox(
    host: Annotated[
        str, typer.Option(help="Interface to listen on (keep loopback unless others must reach it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8787,
    settings: Annotated[Path | None, typer.Option("--settings", help="Sandbox settings YAML.")] = None,
    latency: Annotated[str | None, typer.Option(help="Seconds per request: 0.2, or a range 0.1-0.4.")] = None,
    faults: Annotated[str | None, typer.Option(help="Fault rates, e.g. http_5xx=0.1,http_429=0.05.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fault and latency draws.")] = None,
) -> None:
    """Serve the four providers' HTTP contracts on this machine, for free dry runs and tests."""
    from tasks.sandbox import SandboxSettings, load_sandbox_settings, serve
    from tasks.sandbox.cli_options import apply_options

    try:
        loaded = load_sandbox_settings(settings) if settings else SandboxSettings()
        loaded = apply_options(loaded, latency=latency, faults=faults, seed=seed)
    except (ConfigError, ValueError) as error:
        _fail(error)
    console.print(
        f"retouch sandbox on http://{host}:{port} — picsart /picsart/v1, pixapi /pixapi, fashn /fashn; "
        f"ledger at /_sandbox/ledger",
        highlight=False,
    )
    serve(loaded, host=host, port=port)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def main() -> Any:
    return app()


if __name__ == "__main__":
    main()
