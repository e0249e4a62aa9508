"""The scheduling commands of the CLI: `deploy`, `serve`, and `forecast --schedule` (registered by cli.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.cli_errors import expected_outcomes, fail
from flows.markdown_view import print_markdown

__all__ = ["deploy", "forecast_schedule_command", "serve"]

console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="The pipeline config (YAML).", exists=False, metavar="CONFIG")]
CronOpt = Annotated[str, typer.Option("--cron", help='When to refresh, as cron: "0 3 * * *" is 03:00 daily (UTC).')]
NameOpt = Annotated[str | None, typer.Option("--name", help="The deployment's name (default: refresh-<config>).")]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait", min=0, metavar="SECONDS", help="How long a run waits for a previous one still writing, then skips."
    ),
]


def deploy(
    config: ConfigArg,
    cron: CronOpt,
    work_pool: Annotated[str, typer.Option("--work-pool", help="The work pool whose workers run it.")] = "retouch",
    name: NameOpt = None,
    wait: WaitOpt = 600.0,
    image: Annotated[str | None, typer.Option("--image", help="A Docker image with retouch (docker pools).")] = None,
) -> None:
    """Schedule refreshes on a Prefect server, run by workers.

    Creates a deployment of the main flow on the Prefect API, run by the work pool's workers.
    Each run edits only new or changed rows, ends at once when the catalog and config are unchanged, and
    publishes the schedule's spend forecast. Start a worker with `prefect worker start --pool POOL`.
    Exit codes: 0, 2 invalid config, cron or work pool.
    """
    from flows.deploy import deploy_refresh

    with expected_outcomes(err_console, verbose=False):
        try:
            deployment_id = deploy_refresh(config, cron, work_pool=work_pool, name=name, wait=wait, image=image)
        except ValueError as error:  # Prefect's: no such work pool, or an image the pool cannot use
            fail(err_console, error, 2)
    console.print(f"deployment {deployment_id}: {cron} on work pool {work_pool!r}", highlight=False)
    console.print(f"start a worker: prefect worker start --pool {work_pool}", highlight=False, markup=False)


def serve(config: ConfigArg, cron: CronOpt, name: NameOpt = None, wait: WaitOpt = 600.0) -> None:
    """Serve scheduled refreshes from this process.

    The same deployment as `deploy`, run here until stopped (no work pool or worker needed): fits one
    machine and small setups.
    Exit codes: 0 stopped, 2 invalid config or cron.
    """
    from flows.deploy import serve_refresh

    with expected_outcomes(err_console, verbose=False):
        serve_refresh(config, cron, name=name, wait=wait)


def forecast_schedule_command(config: Path, cron: str, horizon: str, limit: int | None) -> None:
    """`retouch forecast CONFIG --schedule CRON --horizon 30d`: the schedule's spend, per provider and month.

    Prepares the run as it stands (the first scheduled run does what is not done yet) and reads the change
    rate from the output's run manifests; writes `reports/schedule-<id>/schedule-forecast.{md,parquet}`.
    """
    from tasks.costs.schedule import parse_horizon
    from tasks.pipeline.manifest import new_run_id
    from tasks.pipeline.schedule_forecast import forecast_schedule
    from tasks.preparation import prepare_config
    from tasks.reports import schedule_markdown, write_schedule_forecast

    with expected_outcomes(err_console, verbose=False):
        span = parse_horizon(horizon)
        prepared = prepare_config(str(config), limit=limit)
        projection = forecast_schedule(
            prepared.config, prepared.storage, cron, start=datetime.now(UTC), horizon=span,
            backlog=prepared.forecast, rows=prepared.rows,
        )  # fmt: skip
        markdown = schedule_markdown(projection)
        uri = write_schedule_forecast(prepared.storage, f"schedule-{new_run_id()}", projection, markdown)
    print_markdown(console, markdown)
    console.print(f"schedule forecast: {uri}", soft_wrap=True, highlight=False, markup=False)
