"""The budget gate: a forecast over a cap or over an account's balance stops a run before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tasks.core.errors import BudgetExceeded
from tasks.costs import AccountBalance, BudgetTracker, shortfalls
from tasks.pipeline.prepared import PreparedRun

__all__ = ["BudgetGate", "check_balances", "open_budget", "over_budget"]


@dataclass(frozen=True)
class BudgetGate:
    """The run's budget tracker (shared by its shards) and the caps its forecast is over."""

    tracker: BudgetTracker
    over: tuple[str, ...]


def over_budget(prepared: PreparedRun) -> tuple[str, ...]:
    """The caps the prepared run's forecast would pass, each as a sentence; empty when it fits."""
    return tuple(_tracker(prepared).check_forecast(prepared.forecast))


def open_budget(prepared: PreparedRun, *, proceed_to_cap: bool = False) -> BudgetGate:
    """The run's budget, once its forecast has been checked against the caps.

    Args:
        prepared: the prepared run (its forecast, prices and `budget` section).
        proceed_to_cap: when the forecast is over a cap, run up to the cap instead of stopping
            (as `budget.on_forecast_over: proceed_to_cap` does).

    Raises:
        BudgetExceeded: the forecast is over a cap and proceeding to the cap was not asked for.
    """
    tracker = _tracker(prepared)
    over = tuple(tracker.check_forecast(prepared.forecast))
    proceed = proceed_to_cap or prepared.config.budget.on_forecast_over == "proceed_to_cap"
    if over and not proceed:
        raise BudgetExceeded(
            "the forecast is over budget: "
            + "; ".join(over)
            + " — nothing was sent. Raise the cap, or run with --proceed-to-cap to edit up to it.",
        )
    return BudgetGate(tracker, over)


def _tracker(prepared: PreparedRun) -> BudgetTracker:
    return BudgetTracker(prepared.config.budget, prepared.prices, at=prepared.forecast.at)


def check_balances(
    prepared: PreparedRun, balances: Iterable[AccountBalance], *, proceed_to_cap: bool = False
) -> tuple[str, ...]:
    """The accounts whose balance is below what the forecast needs from them; stops the run unless told to go on.

    Args:
        prepared: the prepared run (its forecast).
        balances: the accounts' credits, read just before the run.
        proceed_to_cap: run anyway (jobs the account cannot pay for fail as out of credits, unbilled).

    Returns:
        The shortfalls, each as a sentence (empty when every account can pay).

    Raises:
        BudgetExceeded: an account is short and proceeding was not asked for; nothing was sent.
    """
    short = tuple(shortfalls(prepared.forecast, balances))
    proceed = proceed_to_cap or prepared.config.budget.on_forecast_over == "proceed_to_cap"
    if short and not proceed:
        raise BudgetExceeded(
            "the forecast is more than the provider account holds: "
            + "; ".join(short)
            + " — nothing was sent. Top up the account, or edit fewer rows (--limit).",
        )
    return short
