"""After a run's summary table: the accounts' balances against the ledger, and how to resume a stopped run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:  # the CLI imports this module at start: the pipeline is imported when a run happens
    from tasks.costs import BalanceChange
    from tasks.pipeline.manifest import RunSummary

__all__ = ["print_run_notes"]


def print_run_notes(console: Console, summary: RunSummary, *, resume: str) -> None:
    """Print each account's balance change against the ledger, then, for a stopped run, how to resume it.

    Args:
        console: where to print.
        summary: the run's summary.
        resume: the command that resumes the run (the same command, without --force).
    """
    for change in summary.balances:
        console.print(_balance_line(change), highlight=False, soft_wrap=True)
    if summary.interrupted:
        ended = sum(summary.counts.values())
        console.print(
            f"[yellow]Stopped (Ctrl-C):[/] {ended} job(s) ended and are recorded; {summary.not_run} did not run. "
            f"To resume, run the same command:\n  {resume}",
            highlight=False,
            soft_wrap=True,
        )


def _balance_line(change: BalanceChange) -> str:
    from tasks.reports.markdown import fmt_credits

    name = " + ".join(change.providers)
    ledger = fmt_credits(change.ledger_credits)
    if change.used is None:
        return f"balance of {name}: not read at both ends; the ledger says {ledger} credits"
    line = (
        f"balance of {name}: {fmt_credits(change.before)} → {fmt_credits(change.after)} credits "
        f"(used {fmt_credits(change.used)}); the ledger says {ledger}"
    )
    unexplained = change.unexplained or 0.0
    return line if abs(unexplained) < 1e-9 else f"{line} [yellow](difference {unexplained:+,.6g})[/]"
