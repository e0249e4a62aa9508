"""Before `retouch run` spends: the forecast on screen, the budget and balance gates, and a confirmation."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from flows.markdown_view import print_markdown
from tasks.costs import AccountBalance
from tasks.pipeline.balances import read_balances
from tasks.pipeline.gate import check_balances, open_budget
from tasks.pipeline.prepared import PreparedRun
from tasks.preparation import resolve_api_keys
from tasks.reports import forecast_markdown
from tasks.reports.markdown import fmt_credits

__all__ = ["check_spend", "confirm_spend", "show_forecast"]


def show_forecast(console: Console, prepared: PreparedRun) -> None:
    """The forecast: credits and money per provider, model and variant, and the expected duration."""
    print_markdown(console, forecast_markdown(prepared.forecast))


def check_spend(console: Console, prepared: PreparedRun, *, proceed_to_cap: bool) -> tuple[AccountBalance, ...]:
    """The budget caps, then each provider account's balance (read now), against the forecast.

    Returns:
        The balances read (the run compares them with its ledger at the end).

    Raises:
        BudgetExceeded: the forecast passes a cap or an account's balance, and proceeding was not asked for.
    """
    open_budget(prepared, proceed_to_cap=proceed_to_cap)
    keys = resolve_api_keys(prepared.config, prepared.providers)
    balances = read_balances(prepared.config, keys, prepared.providers)
    needed = {name: totals.known_credits for name, totals in prepared.forecast.by_provider().items()}
    for account in balances:
        name = " + ".join(account.providers)
        if account.credits is None:
            console.print(f"[yellow]balance of {name} not read:[/] {account.problem}", highlight=False)
        else:
            wanted = sum(needed.get(provider, 0.0) for provider in account.providers)
            console.print(
                f"balance of {name}: {fmt_credits(account.credits)} credits; this run needs {fmt_credits(wanted)}"
            )
    check_balances(prepared, balances, proceed_to_cap=proceed_to_cap)
    return balances


def confirm_spend(prepared: PreparedRun, *, yes: bool) -> bool:
    """Ask before a paid run, when a person is at the keyboard: True to go on.

    Nobody is asked when `yes` is given, when stdin is not a terminal (scripts, CI, schedulers never wait
    on a prompt), or when the forecast is within `budget.confirm_above` (default 0: any paid spend asks).
    A forecast with jobs of unknown price asks, since its cost may be anything.
    """
    threshold = prepared.config.budget.confirm_above
    forecast = prepared.forecast
    if yes or threshold is None or not sys.stdin.isatty():
        return True
    if forecast.known_money <= threshold and not forecast.unknown_jobs:
        return True
    unknown = f", plus {forecast.unknown_jobs:,} job(s) of unknown price" if forecast.unknown_jobs else ""
    question = (
        f"This run will spend about {forecast.known_money:,.2f} {forecast.currency} "
        f"({fmt_credits(forecast.known_credits)} credits) on {forecast.jobs:,} jobs{unknown}. Go on?"
    )
    return typer.confirm(question, default=False)
