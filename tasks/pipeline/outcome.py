"""The exit code a script reads: what a run (or a check) came to, as one number.

0    every job succeeded, or there was nothing to do
1    some jobs failed (or ended unknown, or are held as unknown), or a provider lane stopped
2    invalid config, catalog or storage: nothing was sent
3    over budget: the forecast passes a cap or an account's balance (or the spend was not confirmed),
     or a run that went on to the cap left jobs unsent
130  interrupted (Ctrl-C): what finished is recorded; the same command resumes
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from tasks.core.errors import BudgetExceeded, CatalogError, ConfigError, OrchestratorUnavailable, StorageError

if TYPE_CHECKING:  # every command imports this module (through the CLI's error handling): the manifest's imports
    # (the whole pipeline, ~0.8 s) are for `run` alone
    from tasks.pipeline.manifest import RunSummary

__all__ = ["ExitCode", "exit_code_for_error", "exit_code_for_run"]


class ExitCode(enum.IntEnum):
    """The process exit codes of the `retouch` commands (the README's table)."""

    OK = 0
    JOBS_FAILED = 1
    INVALID = 2
    OVER_BUDGET = 3
    INTERRUPTED = 130  # 128 + SIGINT, as shells report a process Ctrl-C stopped


def exit_code_for_run(summary: RunSummary) -> ExitCode:
    """The exit code of a run that ended (or was stopped): the first that applies, in the order above."""
    counts = summary.counts
    if summary.interrupted:
        return ExitCode.INTERRUPTED
    if counts.get("failed") or counts.get("unknown") or summary.held_unknown or summary.lanes_stopped:
        return ExitCode.JOBS_FAILED
    if counts.get("skipped"):  # with no lane stopped, the skipped jobs are those a budget cap kept back
        return ExitCode.OVER_BUDGET
    return ExitCode.OK


def exit_code_for_error(error: BaseException) -> ExitCode | None:
    """The exit code of an expected error (its message is all a person needs); None for anything else."""
    if isinstance(error, BudgetExceeded):
        return ExitCode.OVER_BUDGET
    if isinstance(error, (ConfigError, CatalogError, StorageError, OrchestratorUnavailable)):
        return ExitCode.INVALID
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return None
