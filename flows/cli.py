"""The `retouch` command line: init, run, pilot, validate, forecast, deploy, serve, runs, show, report,
compact, export, sandbox."""

from __future__ import annotations

import os

# Before Prefect is imported: no telemetry leaves the machine, and the console is for our progress bar and
# messages (Prefect's records still reach its API; -v puts them on the terminal too).
# The first switch is a Prefect server's analytics; the second the client's usage events, which follow the
# server's setting, so a Prefect server elsewhere with analytics on would turn them on. A user's own value wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Prefect waits 20 s for its temporary API server by default; on a busy 2-core machine it took longer.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")

import gc
import shlex
import warnings
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.cli_errors import expected_outcomes
from flows.markdown_view import print_markdown
from flows.run_notes import print_run_notes
from flows.schedule_cli import deploy, forecast_schedule_command, serve
from flows.summary import STATUSES, print_results_summary, print_run_summary
from tasks.core.errors import CatalogError, ConfigError, StorageError
from tasks.core.secrets import LiteralSecretWarning

if TYPE_CHECKING:  # the pipeline is imported when a command needs it: `--help` stays fast
    from collections.abc import Callable

    from flows.api_start import TemporaryApi
    from tasks.core.config import ExecutionConfig
    from tasks.costs import AccountBalance
    from tasks.pipeline.manifest import RunSummary
    from tasks.pipeline.prepared import PreparedRun
    from tasks.pipeline.row_checks import RowChecker
    from tasks.pipeline.shards import RetrySelection

# Plain help (no rich panels): typer's rich help prints "<bool>" beside every flag, as if it took a value.
app = typer.Typer(
    help="retouch: declarative dataset-scale AI image editing.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="The pipeline config (YAML).", exists=False, metavar="CONFIG")]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, metavar="N", help="Edit only the first N catalog rows.")
]
TargetArg = Annotated[
    str, typer.Argument(help="A run's output.uri (local path or fsspec URL), or its config file.", metavar="TARGET")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs and error tracebacks.")]


def _fail(error: Exception, code: int = 2) -> None:
    # Escaped: a message may hold brackets rich would take for markup (an Arrow type like date32[day]).
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", markup=True, highlight=False)
    raise typer.Exit(code=code)


def _prepare(
    config: Path,
    limit: int | None,
    force: bool = False,
    row_checker: RowChecker | None = None,
    only_failed: RetrySelection | None = None,
    loaded: Callable[[], None] | None = None,
) -> PreparedRun:
    """The run prepared from the config file (as `prepare_config`), its warnings (a literal key in the config)
    shown once, plainly, on stderr.

    `loaded` is called once the config is valid, before the catalog is read (`run` starts Prefect's API there).
    """
    from tasks.core.config import load_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LiteralSecretWarning)
        loaded_config = load_config(str(config))
        if loaded is not None:
            loaded()
        # Imported once the config is valid: the pipeline's imports take ~0.8 s, which `run` spends while
        # Prefect's API starts (see `loaded`).
        from tasks.preparation import prepare_loaded

        prepared = prepare_loaded(
            loaded_config, source=str(config), limit=limit, force=force, only_failed=only_failed,
            row_checker=row_checker,
        )  # fmt: skip
    for warning in caught:
        err_console.print(f"[bold yellow]warning:[/] {escape(str(warning.message))}", markup=True, highlight=False)
    return prepared


def _print_version(value: bool) -> None:
    if value:
        console.print(f"retouch {package_version('retouch')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """retouch: declarative dataset-scale AI image editing."""


def _output_target(target: str) -> tuple[str, dict[str, Any]]:
    """An output URI as given, or a config file's output.uri and storage options.

    Raises:
        ConfigError: TARGET names a YAML file that is missing or invalid.
        StorageError: there is nothing at the output (no run has written there).
    """
    from tasks.core.config import load_config
    from tasks.storage.fs import Storage

    uri, options, source = target, dict[str, Any](), ""
    if target.endswith((".yaml", ".yml")):
        if not Path(target).is_file():
            raise ConfigError(f"no config file {target}; give a config file or a run's output.uri")
        output = load_config(target).output
        uri, options, source = output.uri, dict(output.storage_options), f" (output.uri of {target})"
    if not Storage(uri, options).exists(""):
        raise StorageError(f"nothing at {uri}{source}: no run has written there yet", uri=uri)
    return uri, options


@app.command()
def init(
    source: Annotated[str, typer.Argument(help="A folder of images, or a .parquet/.csv/.jsonl catalog (any URL).")],
    out: Annotated[str, typer.Option("--out", help="Folder for the catalog, the config and the output.")] = ".",
    prompts: Annotated[str | None, typer.Option("--prompts", help="CSV/JSONL: file name → prompt.")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="One prompt for every image (or the rest).")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="The catalog's id column.")] = None,
    image_column: Annotated[str | None, typer.Option("--image-column", help="The image column.")] = None,
    prompt_column: Annotated[str | None, typer.Option("--prompt-column", help="The prompt column.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a config and catalog already in --out.")] = False,
) -> None:
    """Start a project: a catalog and a starter config.

    Writes a catalog (where needed) and a starter config from a folder of images or a table.
    """
    from flows.export_view import print_init_result
    from tasks.starter import InitRequest, init_project

    named = {"id": id_column, "image": image_column, "prompt": prompt_column}
    request = InitRequest(
        source=source,
        out=out,
        prompts_file=prompts,
        prompt=prompt,
        columns={role: column for role, column in named.items() if column},
        force=force,
    )
    try:
        result = init_project(request)
    except (ConfigError, CatalogError) as error:
        _fail(error)
    print_init_result(console, result)


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
    wait: Annotated[
        bool, typer.Option("--wait", help="If another run is writing to the same output, queue until it is done.")
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option("--wait-timeout", min=0, metavar="SECONDS", help="With --wait: give up after this long.")
    ] = 3600.0,
    runner: Annotated[
        str | None,
        typer.Option("--runner", metavar="threads|dask", help="Where shards run (default: execution.runner)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", metavar="tcp://HOST:PORT", help="With --runner dask: an existing Dask scheduler."),
    ] = None,
    only_failed: Annotated[
        bool, typer.Option("--only-failed", help="Run again only the jobs that failed or were skipped; nothing new.")
    ] = False,
    error_types: Annotated[
        list[str] | None,
        typer.Option("--error-type", metavar="TYPE", help="With --only-failed: only jobs that ended with this error."),
    ] = None,
    include_unknown: Annotated[
        bool,
        typer.Option("--include-unknown", help="With --only-failed: re-send jobs held unknown (may pay twice)."),
    ] = False,
) -> None:
    """Forecast, edit the catalog and print a summary.

    Checks everything before spending, prints the forecast and the providers' balances, stops when over
    budget, asks before a paid run at a terminal, edits the catalog, then prints a one-screen summary.
    Re-run the same command to retry failed jobs or resume a stopped run: jobs that succeeded are skipped.
    --only-failed retries just the failed and skipped jobs (of --error-type, if given) and plans nothing new;
    --include-unknown also re-sends jobs whose outcome is unknown, which may already have been billed.
    Exit codes: 0 every job succeeded (or nothing to do), 1 some jobs failed or a provider's lane stopped,
    2 invalid config, catalog or storage (or another run holds the output: see --wait), 3 over budget (or
    not confirmed), 130 interrupted.
    """
    _verbose_logs(verbose)
    from flows.api_start import TemporaryApi
    from tasks.pipeline.outcome import ExitCode, exit_code_for_run

    selection = _retry_selection(only_failed, error_types, include_unknown, force=force)
    api = TemporaryApi()
    with expected_outcomes(err_console, verbose=verbose):
        # A bad config stops before Prefect's API starts; once it is valid, the API starts while the catalog
        # is read and planned. A bad catalog or output, or a budget the forecast passes, stops before the flow.
        prepared = _prepare(config, limit, force, only_failed=selection, loaded=api.begin)
        # Imported once the API is starting: these import the pipeline and Prefect (~1.5 s in all).
        from flows.cluster import execution_for
        from flows.spend import check_spend, confirm_spend, show_forecast

        execution = execution_for(prepared.config.execution, runner=runner, address=address)
        show_forecast(console, prepared)
        balances = check_spend(console, prepared, proceed_to_cap=proceed_to_cap)
        if not dry_run and not confirm_spend(prepared, yes=yes):
            console.print("Nothing was sent.")
            raise typer.Exit(code=ExitCode.OVER_BUDGET)
        summary = _run_flow(
            prepared, balances, dry_run=dry_run, proceed_to_cap=proceed_to_cap, wait=wait_timeout if wait else 0.0,
            execution=execution, api=api,
        )  # fmt: skip
    print_run_summary(console, summary)
    resume = ["retouch", "run", str(config), *(["--limit", str(limit)] if limit else [])]
    resume += [flag for flag, given in (("--proceed-to-cap", proceed_to_cap), ("--yes", yes)) if given]
    if selection is not None:
        resume += ["--only-failed", *[f"--error-type={kind}" for kind in sorted(selection.error_types)]]
        resume += ["--include-unknown"] if selection.unknown else []
    print_run_notes(console, summary, resume=shlex.join(resume))
    raise typer.Exit(code=exit_code_for_run(summary))


def _retry_selection(
    only_failed: bool, error_types: list[str] | None, include_unknown: bool, *, force: bool
) -> RetrySelection | None:
    """What `--only-failed` and its options select; a combination that makes no sense is a usage error."""
    if not only_failed:
        if error_types or include_unknown:
            raise typer.BadParameter("needs --only-failed", param_hint="--error-type / --include-unknown")
        return None
    from tasks.pipeline.shards import RetrySelection  # the pipeline (~0.8 s), for --only-failed alone

    if force:
        raise typer.BadParameter("--force runs succeeded jobs again; --only-failed runs only unsuccessful ones")
    if include_unknown:
        err_console.print(
            "[bold yellow]warning:[/] --include-unknown re-sends jobs whose submit got no answer: the provider "
            "may have run and billed them already, so this may pay twice for them.",
            markup=True,
            highlight=False,
        )
    return RetrySelection(error_types=frozenset(error_types or ()), unknown=include_unknown)


def _run_flow(
    prepared: PreparedRun,
    balances: tuple[AccountBalance, ...],
    *,
    dry_run: bool,
    proceed_to_cap: bool,
    wait: float,
    execution: ExecutionConfig,
    api: TemporaryApi,
) -> RunSummary:
    """The flow itself, Ctrl-C handled gracefully from the wait for Prefect's API until the run ends."""
    from flows.cluster import task_runner_for, workers_reach_api
    from flows.edit_catalog import edit_catalog
    from flows.interrupt import GracefulInterrupt
    from flows.progress_bar import run_progress
    from tasks.pipeline.manifest import new_run_id
    from tasks.pipeline.tally import planned_by_provider

    run_id = new_run_id()
    planned, currency = planned_by_provider(prepared.forecast), prepared.forecast.currency
    with (
        GracefulInterrupt(console) as interrupt,
        run_progress(console, run_id, total=prepared.plan.planned, dry_run=dry_run, planned=planned, currency=currency),
    ):
        api.wait()
        if interrupt.requested:
            raise KeyboardInterrupt("stopped before anything was sent")
        flow = edit_catalog.with_options(task_runner=task_runner_for(execution, providers=len(prepared.providers)))
        with workers_reach_api(execution):
            return flow(
                prepared=prepared, dry_run=dry_run, run_id=run_id, proceed_to_cap=proceed_to_cap, wait=wait,
                balances=balances,
            )  # fmt: skip


@app.command()
def pilot(
    config: ConfigArg,
    sample: Annotated[str, typer.Option("--sample", help="Catalog share to try, e.g. 2% or 0.02.")] = "2%",
    providers: Annotated[
        str | None, typer.Option("--providers", help="Candidates, comma-separated (default: provider + fallback).")
    ] = None,
    stratify: Annotated[str | None, typer.Option("--stratify", help="Sample within each value of this column.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    variant: Annotated[str | None, typer.Option("--variant", help="The edit to pilot (default: the first).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Sample the catalog on each candidate provider; name the best.

    Runs a seeded sample of the catalog on each candidate and says which gives accepted images cheapest.

    The candidates are the variant's provider and its `fallback` entries (each with its own model and params).
    Prints and writes (under output.uri/pilot/) each one's acceptance rate, cost per accepted image, time per
    image, and the whole catalog's projected cost and duration with 95% intervals, plus a side-by-side gallery;
    then the command that starts the full run from the winner. Exit codes as for `run`.
    """
    _verbose_logs(verbose)
    from flows.interrupt import start_prefect_api
    from flows.pilot import run_pilot
    from flows.spend import confirm_spend

    with expected_outcomes(err_console, verbose=verbose):
        share = _share(sample)
        start_prefect_api()
        outcome = run_pilot(
            str(config), share=share, providers=[name.strip() for name in providers.split(",")] if providers else None,
            stratify=stratify, seed=seed, variant=variant, confirm=lambda prepared: confirm_spend(prepared, yes=yes),
        )  # fmt: skip
    print_markdown(console, outcome.markdown)
    console.print(f"Summary: {outcome.summary_uri}\nGallery: {outcome.gallery_uri}", highlight=False, soft_wrap=True)
    if outcome.command:  # on one line, to copy
        console.print(f"Full run from {outcome.winner}: {outcome.command}", highlight=False, soft_wrap=True)


def _share(text: str) -> float:
    """`2%` or `0.02` as a fraction in (0, 1].

    Raises:
        ConfigError: anything else, naming --sample.
    """
    try:
        value = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ConfigError(f"--sample {text!r}: expected a share of the catalog like 2% or 0.02 (at most 100%)")
    return value


@app.command()
def validate(config: ConfigArg, limit: LimitOpt = None, verbose: VerboseOpt = False) -> None:
    """Check what a run checks before spending; edits nothing.

    Everything `run` rejects before spending (config, params, keys, base URLs, a writable output, the whole
    catalog and its prompt templates, the budget and the providers' balances), then the rows: local prompts
    the engine cannot read and source images that are not there. Edits nothing, writes nothing.
    Exit codes: 0 all clear, 1 the config is valid but some jobs would fail (rows named), 2 invalid config,
    catalog or storage, 3 the forecast is over budget or over an account's balance.
    """
    _verbose_logs(verbose)
    from flows.spend import check_spend
    from flows.validate_view import print_row_findings, print_validation
    from tasks.pipeline.outcome import ExitCode
    from tasks.pipeline.row_checks import RowChecker

    with expected_outcomes(err_console, verbose=verbose):
        checker = RowChecker()
        prepared = _prepare(config, limit, row_checker=checker)
        print_validation(console, prepared, str(config))
        findings = checker.findings()
        print_row_findings(console, findings)
        check_spend(console, prepared, proceed_to_cap=False)
    raise typer.Exit(code=ExitCode.JOBS_FAILED if findings.problems else ExitCode.OK)


@app.command()
def forecast(
    config: ConfigArg,
    limit: LimitOpt = None,
    verbose: VerboseOpt = False,
    schedule: Annotated[
        str | None, typer.Option("--schedule", metavar="CRON", help="Project a scheduled refresh's spend instead.")
    ] = None,
    horizon: Annotated[
        str, typer.Option("--horizon", metavar="SPAN", help="With --schedule: how far ahead (30d, 12h, 2w).")
    ] = "30d",
) -> None:
    """Price a run's jobs and estimate its duration; sends nothing.

    Prices exactly the jobs a run would send (done work skipped) and calls no provider. With --schedule,
    projects the refreshes of that cron over --horizon instead, per provider and month with a range, from
    the change rate the output's runs show.
    Exit codes: 0, 2 invalid config, catalog or storage, 3 the forecast is over budget.
    """
    _verbose_logs(verbose)
    if schedule is not None:
        forecast_schedule_command(config, schedule, horizon, limit)
        return
    from tasks.pipeline.outcome import ExitCode

    with expected_outcomes(err_console, verbose=verbose):
        prepared = _prepare(config, limit)
        from flows.forecast_summary import forecast_summary

        result = forecast_summary(prepared)  # no Prefect: `forecast_catalog` is the flow that also publishes it
    print_markdown(console, result.markdown)
    console.print(f"forecast table: {result.uri}", soft_wrap=True, highlight=False, markup=False)
    for line in result.over_budget:
        console.print(f"[yellow]over budget:[/] {line}")
    raise typer.Exit(code=ExitCode.OVER_BUDGET if result.over_budget else ExitCode.OK)


app.command()(deploy)
app.command()(serve)


@app.command()
def show(
    target: TargetArg,
    rows: Annotated[int, typer.Option("--rows", min=0, metavar="N", help="How many result rows to print.")] = 5,
    status: Annotated[str | None, typer.Option(help=f"Only rows with this status: {', '.join(STATUSES)}.")] = None,
    variant: Annotated[str | None, typer.Option(help="Only this edit variant's rows.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider's rows.")] = None,
) -> None:
    """Summarise a results table: counts, failures, a few rows.

    Counts by variant, provider and status; failures by provider × error type with each distinct message;
    then the first rows in a stable order (row id, variant, seed).
    """
    from tasks.storage.fs import Storage
    from tasks.storage.results import read_results

    if status is not None and status not in STATUSES:
        _fail(ConfigError(f"--status {status}: use one of {', '.join(STATUSES)}"))
    try:
        uri, options = _output_target(target)
        frame = read_results(Storage(uri, options))
    except (ConfigError, StorageError) as error:
        _fail(error)
    filters = {"status": status, "variant": variant, "provider": provider}
    print_results_summary(console, frame, uri, rows=rows, filters=filters)


@app.command()
def runs(target: TargetArg) -> None:
    """List an output's runs: start, jobs, spend, forecast.

    One line per run with a manifest, newest last, and which run `retouch report` shows by default.
    """
    from flows.listing import print_runs
    from tasks.pipeline.history import list_runs
    from tasks.storage.fs import Storage

    try:
        uri, options = _output_target(target)
        found = list_runs(Storage(uri, options))
    except (ConfigError, StorageError) as error:
        _fail(error)
    print_runs(console, found, uri)


@app.command()
def report(
    target: TargetArg,
    run_id: Annotated[
        str | None, typer.Option("--run", help="The run to report (default: the newest that did work).")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="The run's config, for source thumbnails (TARGET may be it).")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """A run's cost report and page, and the monthly picture.

    Actual cost against forecast, cost per image, failures, a spend chart, the providers' balances before
    and after; by default for the newest run that did work (a re-run that found everything done is skipped).
    Also writes reports/<run>/index.html (counts, spend, failures, a before/after gallery, every image
    embedded) and contact_sheet.png; sources are shown when the config is known (TARGET or --config).
    Exit codes: 0, 2 no runs (or no such run) under the target, or the target cannot be read.
    """
    _verbose_logs(verbose)
    from tasks.pipeline.history import resolve_run
    from tasks.storage.fs import Storage

    with expected_outcomes(err_console, verbose=verbose):
        uri, options = _output_target(target)
        # Checked before the flow starts: an unknown run is an answer, not a Prefect failure.
        chosen = resolve_run(Storage(uri, options), run_id)
        from flows.report import cost_report

        if config is None and target.endswith((".yaml", ".yml")):
            config = target
        result = cost_report(uri, run_id=chosen, storage_options=options, config_path=config)
    print_markdown(console, result.markdown)
    print_markdown(console, result.monthly)
    console.print("written:")
    for written in sorted(result.uris.values()):
        console.print(f"  {written}", soft_wrap=True, highlight=False, markup=False)


@app.command()
def compact(
    target: Annotated[str, typer.Argument(help="A run's output.uri (local path or fsspec URL), or its config file.")],
) -> None:
    """Merge the results and cost parts into few files.

    Merges the Parquet parts of results/ and costs/ into few, one succeeded row per job; not while a run
    holds the output.
    """
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
def export(
    target: Annotated[str, typer.Argument(help="A run's config file, or its output.uri (then give --config).")],
    to: Annotated[str, typer.Option("--to", help="Where the export goes: a folder or fsspec URL.")],
    fmt: Annotated[str, typer.Option("--format", help="hf, webdataset or parquet.")] = "hf",
    config: Annotated[str | None, typer.Option("--config", help="The run's config (for its catalog).")] = None,
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Only this variant (repeatable).")] = None,
    status: Annotated[list[str] | None, typer.Option("--status", help="Row statuses to export.")] = None,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Rows per shard file.")] = 1000,
    split: Annotated[str | None, typer.Option("--split", help="Seeded splits by row id: train=0.9,test=0.1")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split assignment.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier export at --to.")] = False,
) -> None:
    """Export the results as a dataset (hf, webdataset, parquet).

    A Hugging Face dataset, WebDataset shards, or one Parquet table with the images.
    """
    from flows.export_view import print_export_summary
    from tasks.exports import ExportOptions, export_results, parse_splits
    from tasks.exports.target import export_source
    from tasks.pipeline.export_runs import runs_info
    from tasks.storage.fs import Storage

    statuses = tuple(part for value in status or ["succeeded"] for part in value.split(",") if part)
    try:
        output, loaded = export_source(target, config)
        options = ExportOptions(
            format=fmt,  # type: ignore[arg-type]  # checked by ExportOptions
            splits=parse_splits(split),
            variants=tuple(variant or ()),
            statuses=statuses,
            shard_size=shard_size,
            seed=seed,
            overwrite=overwrite,
        )
        with _progress() as progress:
            bar = progress.add_task("exporting", total=None)
            advance = lambda done, total: progress.update(bar, completed=done, total=total)  # noqa: E731
            summary = export_results(output, Storage(to), loaded, options, runs=runs_info(output), on_batch=advance)
    except (ConfigError, CatalogError, StorageError) as error:
        _fail(error)
    print_export_summary(console, summary)


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
    """Serve the providers' HTTP contracts locally, for free tests.

    The four providers' contracts on this machine, for free dry runs and tests.
    """
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
