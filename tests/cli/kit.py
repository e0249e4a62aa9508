"""Running `retouch` as a user does, in an 80-column terminal, and checking nothing was cut to fit."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from flows.cli import app

WIDTH = 80


def invoke(*args: str) -> Result:
    """Run `retouch ARGS` in an 80-column terminal; stdout and stderr together in `.output`."""
    return CliRunner(env={"COLUMNS": str(WIDTH)}).invoke(app, list(args))


def assert_fits(output: str) -> None:
    """Nothing was cut to fit: no ellipsis anywhere, and every table line within the width."""
    assert "…" not in output, output
    boxed = [line for line in output.splitlines() if line[:1] in "│┃┏┡└┌─"]
    assert all(len(line) <= WIDTH for line in boxed), output
