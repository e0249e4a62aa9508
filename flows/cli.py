"""The `retouch` command line: run, validate, forecast, show, report, sandbox."""

from __future__ import annotations

import os

# Before Prefect is imported: no telemetry leaves the machine, and the console is for our progress bar and
# messages (Prefect's records still reach its API; -v puts them on the terminal too).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")

import gc
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.cli_errors import expected_outcomes
from flows.run_notes import print_run_notes
from flows.summary import print_results_summary, print_run_summary
from tasks.core.errors import ConfigError, StorageError

if TYPE_CHECKING:  # the pipeline is imported when a command needs it: `--help` stays fast
    from tasks.costs import AccountBalance
    from tasks.pipeline.manifest import RunSummary
    from tasks.pipeline.prepared import PreparedRun

app = typer.Typer(
    help="retouch: declarative dataset-scale AI image editing.", no_args_is_help=True, add_completion=False
)
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="The pipeline config (YAML).", exists=False)]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Edit only the first N catalog rows.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs and error tracebacks.")]


def _fail(error: Exception, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)
    raise typer.Exit(code=code)


def _output_target(target: str) -> tuple[str, dict[str, Any]]:
    """An output URI as given, or a config file's output.uri and storage options."""
    if target.endswith((".yaml", ".yml")) and Path(target).is_file():
        from tasks.core.config import load_config

        output = load_config(target).output
        return output.uri, dict(output.storage_options)
    return target, {}


def _verbose_logs(verbose: bool) -> None:
    if verbose:  # before Prefect is imported
        os.environ.update(
            PREFECT_LOGGING_LEVEL="INFO",
            PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="0",
            PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL="0",
        )


@app.command()
def run(
    config: ConfigArg,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and count; edit nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Re-run jobs that already succeeded.")] = False,
    proceed_to_cap: Annotated[
        bool, typer.Option("--proceed-to-cap", help="If the forecast is over budget, edit up to the cap.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending (scripts never are).")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Forecast, check the budget, ask before paying, edit the catalog, then print a summary.

    Exit codes: 0 every job succeeded (or nothing to do), 1 some jobs failed, 2 invalid config, catalog or
    storage, 3 over budget (or not confirmed), 130 interrupted.
    """
    _verbose_logs(verbose)
    from flows.spend import check_spend, confirm_spend, show_forecast
    from tasks.pipeline.outcome import ExitCode, exit_code_for_run
    from tasks.prepare import prepare_config

    with expected_outcomes(err_console, verbose=verbose):
        # Before Prefect starts: a bad config, catalog or output, or a budget the forecast passes, stops here.
        prepared = prepare_config(str(config), limit=limit, force=force)
        show_forecast(console, prepared)
        balances = check_spend(console, prepared, proceed_to_cap=proceed_to_cap)
        if not dry_run and not confirm_spend(prepared, yes=yes):
            console.print("Nothing was sent.")
            raise typer.Exit(code=ExitCode.OVER_BUDGET)
        summary = _run_flow(prepared, balances, dry_run=dry_run, proceed_to_cap=proceed_to_cap)
    print_run_summary(console, summary)
    resume = ["retouch", "run", str(config), *(["--limit", str(limit)] if limit else [])]
    resume += [flag for flag, given in (("--proceed-to-cap", proceed_to_cap), ("--yes", yes)) if given]
    print_run_notes(console, summary, resume=shlex.join(resume))
    raise typer.Exit(code=exit_code_for_run(summary))


def _run_flow(
    prepared: PreparedRun, balances: tuple[AccountBalance, ...], *, dry_run: bool, proceed_to_cap: bool
) -> RunSummary:
    """The flow itself, Ctrl-C handled gracefully from before Prefect's API starts until the run ends."""
    from flows.edit_catalog import edit_catalog
    from flows.interrupt import GracefulInterrupt, start_prefect_api
    from tasks.pipeline.manifest import new_run_id
    from tasks.pipeline.progress import listen

    run_id = new_run_id()
    with GracefulInterrupt(console) as interrupt:
        start_prefect_api()
        if interrupt.requested:
            raise KeyboardInterrupt("stopped before anything was sent")
        with _progress() as progress:
            bar = progress.add_task("editing", total=0 if dry_run else prepared.plan.planned)
            stop = listen(run_id, lambda status, images: progress.advance(bar))
            try:
                return edit_catalog(
                    prepared=prepared, dry_run=dry_run, run_id=run_id, proceed_to_cap=proceed_to_cap, balances=balances
                )
            finally:
                stop()


@app.command()
def validate(
    config: ConfigArg,
    limit: LimitOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Check everything a run checks before spending, and the rows: jobs that would fail are named.

    Exit codes: 0 all clear, 1 the config is valid but some jobs would fail (rows named), 2 invalid config,
    catalog or storage, 3 the forecast is over budget or over an account's balance.
    """
    _verbose_logs(verbose)
    from flows.spend import check_spend
    from flows.validate_view import print_row_findings, print_validation
    from tasks.pipeline.outcome import ExitCode
    from tasks.pipeline.row_checks import RowChecker
    from tasks.prepare import prepare_config

    with expected_outcomes(err_console, verbose=verbose):
        checker = RowChecker()
        prepared = prepare_config(str(config), limit=limit, row_checker=checker)
        print_validation(console, prepared, str(config))
        findings = checker.findings()
        print_row_findings(console, findings)
        check_spend(console, prepared, proceed_to_cap=False)
    raise typer.Exit(code=ExitCode.JOBS_FAILED if findings.problems else ExitCode.OK)


@app.command()
def forecast(config: ConfigArg, limit: LimitOpt = None, verbose: VerboseOpt = False) -> None:
    """Price the jobs a run would send (done work skipped) and estimate its duration; calls no provider.

    Exit codes: 0, 2 invalid config, catalog or storage, 3 the forecast is over budget.
    """
    _verbose_logs(verbose)
    from tasks.pipeline.outcome import ExitCode
    from tasks.prepare import prepare_config

    with expected_outcomes(err_console, verbose=verbose):
        prepared = prepare_config(str(config), limit=limit)  # before Prefect starts
        from flows.forecast import forecast_catalog

        result = forecast_catalog(str(config), prepared=prepared)
    console.print(Markdown(result.markdown))
    console.print(f"forecast table: {result.uri}")
    for line in result.over_budget:
        console.print(f"[yellow]over budget:[/] {line}")
    raise typer.Exit(code=ExitCode.OVER_BUDGET if result.over_budget else ExitCode.OK)


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
    verbose: VerboseOpt = False,
) -> None:
    """Actual cost against forecast for a run, its spend chart, and the monthly picture across runs.

    Exit codes: 0, 2 no runs (or no such run) under the target, or the target cannot be read.
    """
    _verbose_logs(verbose)
    from tasks.pipeline.run_lookup import check_run_exists

    with expected_outcomes(err_console, verbose=verbose):
        uri, options = _output_target(target)
        check_run_exists(uri, options, run_id)  # before Prefect starts
        from flows.report import cost_report

        result = cost_report(uri, run_id=run_id, storage_options=options)
    console.print(Markdown(result.markdown))
    console.print(Markdown(result.monthly))
    console.print(f"written: {', '.join(sorted(result.uris.values()))}", highlight=False)


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
    try:
        return app()
    finally:
        # The interpreter's last garbage collection walks every object Prefect and its imports made: measured
        # 16 s on a busy 2-core machine after the summary was printed. Nothing left needs it (files and
        # sockets close with the process; atexit handlers still run), so it is skipped.
        gc.freeze()


if __name__ == "__main__":
    main()
