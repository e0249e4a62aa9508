"""Costs: the price table, forecasts, the budget tracker, the cost ledger and cost reports."""

from tasks.costs.budget import BudgetTracker, Reservation, Spend
from tasks.costs.duration import DurationEstimate, estimate_duration, requests_per_job
from tasks.costs.forecast import FORECAST_SCHEMA, Forecast, ForecastGroup, forecast, read_forecast, write_forecast
from tasks.costs.ledger import (
    LEDGER_DIR,
    LEDGER_SCHEMA,
    billed_credits,
    ledger_frame,
    ledger_rows,
    read_ledger,
    write_ledger_part,
)
from tasks.costs.monthly import MonthlySummary, monthly_summary, write_monthly_summary
from tasks.costs.options import size_tier
from tasks.costs.prices import DEFAULT_PRICING_PATH, PriceTable, Quote, load_price_table
from tasks.costs.report import CostReport, build_cost_report, load_forecast, write_cost_report

__all__ = [
    "DEFAULT_PRICING_PATH",
    "FORECAST_SCHEMA",
    "LEDGER_DIR",
    "LEDGER_SCHEMA",
    "BudgetTracker",
    "CostReport",
    "DurationEstimate",
    "Forecast",
    "ForecastGroup",
    "MonthlySummary",
    "PriceTable",
    "Quote",
    "Reservation",
    "Spend",
    "billed_credits",
    "build_cost_report",
    "estimate_duration",
    "forecast",
    "ledger_frame",
    "ledger_rows",
    "load_forecast",
    "load_price_table",
    "monthly_summary",
    "read_forecast",
    "read_ledger",
    "requests_per_job",
    "size_tier",
    "write_cost_report",
    "write_forecast",
    "write_ledger_part",
    "write_monthly_summary",
]
