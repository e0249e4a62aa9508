"""How the CLI ends on an expected outcome: one clear line and its exit code; the traceback only with -v."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
import typer
from rich.console import Console
from rich.markup import escape

from tasks.core.errors import RetouchError
from tasks.pipeline.outcome import ExitCode, exit_code_for_error

__all__ = ["expected_outcomes", "fail"]


def fail(console: Console, error: BaseException, code: int, *, verbose: bool = False) -> NoReturn:
    """Print `error` as one message (and, with `verbose`, its traceback), then exit with `code`."""
    if verbose and error.__traceback__ is not None:
        console.print_exception()
    label = {ExitCode.INTERRUPTED: "interrupted", ExitCode.OVER_BUDGET: "stopped"}.get(ExitCode(code), "error")
    # Escaped: a message may hold brackets rich would take for markup (an Arrow type like date32[day]).
    console.print(f"[bold red]{label}:[/] {escape(str(error))}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


@contextmanager
def expected_outcomes(console: Console, *, verbose: bool = False) -> Iterator[None]:
    """Turn the errors a person can act on (config, catalog, storage, budget, Ctrl-C) into a message and an
    exit code; anything else (a bug) propagates with its traceback."""
    try:
        yield
    except (RetouchError, KeyboardInterrupt, click.exceptions.Abort) as error:
        if isinstance(error, (KeyboardInterrupt, click.exceptions.Abort)):
            error = KeyboardInterrupt("stopped before anything was sent")
        code = exit_code_for_error(error)
        if code is None:
            raise
        fail(console, error, code, verbose=verbose)
