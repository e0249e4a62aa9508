"""Reports, presentation only: Markdown tables, the spend chart, cost and monthly reports, forecast views."""

from tasks.reports.cost_report import CostReport, build_cost_report, load_forecast, write_cost_report
from tasks.reports.forecast_view import forecast_markdown
from tasks.reports.monthly import MonthlySummary, monthly_summary, write_monthly_summary
from tasks.reports.schedule_view import ActualSpend, schedule_markdown, write_schedule_forecast

__all__ = [
    "ActualSpend",
    "CostReport",
    "MonthlySummary",
    "build_cost_report",
    "forecast_markdown",
    "load_forecast",
    "monthly_summary",
    "schedule_markdown",
    "write_cost_report",
    "write_monthly_summary",
    "write_schedule_forecast",
]
