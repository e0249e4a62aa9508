"""Ctrl-C during `retouch run`: the first stops the run gracefully, a second one exits at once.

The terminal sends Ctrl-C to every process in its foreground group, Prefect's temporary API server
included: it used to die first, leaving the run to print connection errors for a minute. The server is
therefore started with SIGINT blocked (a child inherits its parent's signal mask; see `flows.api_start`),
and only our handler sees the key.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType, TracebackType

from rich.console import Console

from flows.api_start import TemporaryApi, temporary_servers
from tasks.pipeline.interrupt import GRACE_SECONDS, PROCESS_STOP, StopSignal

__all__ = ["GracefulInterrupt", "quiet_prefect_console", "start_prefect_api"]


def start_prefect_api() -> None:
    """Start Prefect's temporary API server now, out of reach of the terminal's Ctrl-C, and wait for it.

    Does nothing when PREFECT_API_URL names a server (a server the user runs is theirs to stop). `retouch
    run` starts it earlier, beside its planning (see `flows.api_start`).

    Raises:
        OrchestratorUnavailable: the server did not start; nothing has been sent.
    """
    TemporaryApi().wait()


def quiet_prefect_console() -> None:
    """Keep Prefect's log records off the terminal (they still reach its API); the CLI says what happened."""
    for name in ("", "prefect", "prefect._internal", "uvicorn"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setLevel(logging.CRITICAL + 1)


class GracefulInterrupt:
    """Handles SIGINT while a run goes: the first asks the run to stop, the second exits with 130 at once.

    Use as a context manager around the run; it clears the stop request on entry and on exit, and puts the
    previous handler back on exit.

    Args:
        console: where the messages go (the progress bar's console, so they do not tear it).
        stop: the stop request the run follows.
    """

    def __init__(self, console: Console, stop: StopSignal = PROCESS_STOP) -> None:
        self._console = console
        self._stop = stop
        self._previous: signal.Handlers | object = signal.SIG_DFL

    @property
    def requested(self) -> bool:
        return self._stop.requested

    def __enter__(self) -> GracefulInterrupt:
        self._stop.clear()
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
        self._stop.clear()  # the run has ended: a later run in this process starts afresh

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self._stop.requested:
            quiet_prefect_console()
            self._console.print(
                f"[yellow]Stopping:[/] no new job starts; jobs in flight get up to {GRACE_SECONDS:g} s to finish "
                "and every finished row is written. Press Ctrl-C again to quit at once.",
                highlight=False,
            )
            self._stop.request()
            return
        sys.stderr.write(
            "\nQuit at once: the rows of jobs still in flight were not written (the next run may send those "
            "again); run the same command to resume.\n"
        )
        sys.stderr.flush()
        for process in temporary_servers():
            process.terminate()  # our temporary API server: nothing else would stop it after os._exit
        os._exit(130)
