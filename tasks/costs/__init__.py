"""Costs, money only: the price table, forecasts, the budget tracker and the cost ledger."""

from tasks.costs.balance import AccountBalance, BalanceChange, balance_changes, shortfalls
from tasks.costs.budget import BudgetTracker, Reservation, Spend
from tasks.costs.duration import DurationEstimate, estimate_duration, requests_per_job
from tasks.costs.forecast import FORECAST_SCHEMA, Forecast, ForecastGroup, forecast, read_forecast, write_forecast
from tasks.costs.ledger import (
    LEDGER_SCHEMA,
    billed_credits,
    ledger_frame,
    ledger_rows,
    read_ledger,
    write_ledger_part,
)
from tasks.costs.prices import DEFAULT_PRICING_PATH, PriceTable, Quote, load_price_table
from tasks.costs.schema import size_tier

__all__ = [
    "DEFAULT_PRICING_PATH",
    "FORECAST_SCHEMA",
    "LEDGER_SCHEMA",
    "AccountBalance",
    "BalanceChange",
    "BudgetTracker",
    "DurationEstimate",
    "Forecast",
    "ForecastGroup",
    "PriceTable",
    "Quote",
    "Reservation",
    "Spend",
    "balance_changes",
    "billed_credits",
    "estimate_duration",
    "forecast",
    "ledger_frame",
    "ledger_rows",
    "load_price_table",
    "read_forecast",
    "read_ledger",
    "requests_per_job",
    "shortfalls",
    "size_tier",
    "write_forecast",
    "write_ledger_part",
]
