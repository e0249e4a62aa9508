"""Provider account balances rendered as Markdown: before − after against what the run's ledger says it spent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tasks.costs.balance import BalanceChange
from tasks.reports.markdown import fmt_credits, markdown_table

__all__ = ["balances_markdown"]

_COLUMNS = {
    "account": "account (providers)", "before": "before", "after": "after", "used": "before − after",
    "ledger": "ledger", "unexplained": "difference",
}  # fmt: skip


def balances_markdown(changes: Sequence[BalanceChange]) -> str:
    """A table of each account's credits before and after the run against the run's ledger; "" with none."""
    if not changes:
        return ""
    rows = [_row(change) for change in changes]
    note = (
        "Read from each provider's balance endpoint when the run started and ended. A difference other than 0 "
        "means the provider billed something the ledger does not show (or another client used the account "
        "meanwhile)."
    )
    return f"## Provider balances\n\n{markdown_table(rows, _COLUMNS)}\n\n{note}"


def _row(change: BalanceChange) -> dict[str, Any]:
    return {
        "account": " + ".join(change.providers), "before": fmt_credits(change.before),
        "after": fmt_credits(change.after), "used": fmt_credits(change.used),
        "ledger": fmt_credits(change.ledger_credits), "unexplained": _signed(change.unexplained),
    }  # fmt: skip


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    return "0" if abs(value) < 1e-9 else f"{value:+,.6g}"
