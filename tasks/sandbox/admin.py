"""Admin endpoints under ``/_sandbox``: ledger, balances, settings, stats, reset, runtime fault settings."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tasks.sandbox.responses import json_reply
from tasks.sandbox.settings import FaultSettings
from tasks.sandbox.state import SandboxState
from tasks.sandbox.webhooks import sink_list, sink_receive

__all__ = ["routes"]


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def ledger(request: Request) -> Response:
    """Every billed job (refunded ones are gone), with the total."""
    entries = _state(request).ledger.entries()
    total = sum(entry["credits"] for entry in entries)
    return json_reply({"entries": entries, "total_credits": total, "refunds": _state(request).ledger.refunds})


async def balances(request: Request) -> Response:
    """Provider -> key fingerprint -> balance."""
    return json_reply(_state(request).ledger.balances())


async def settings(request: Request) -> Response:
    """The running settings, API keys replaced by their fingerprints."""
    return json_reply(_state(request).settings.public_dump())


async def stats(request: Request) -> Response:
    """Requests, statuses, 429s sent, jobs and injected faults, per provider."""
    state = _state(request)
    return json_reply(state.stats.snapshot(state.fault_counts(), state.ledger.refunds))


async def reset(request: Request) -> Response:
    """Back to the configured start: balances, ledger, jobs, files, limits, counters, fault streams."""
    await _state(request).reset()
    return json_reply({"reset": True})


async def faults(request: Request) -> Response:
    """``PUT``: replace the fault settings (a ``FaultSettings`` JSON object); ``GET``: show them."""
    state = _state(request)
    if request.method == "PUT":
        try:
            state.set_faults(FaultSettings.model_validate_json(await request.body()))
        except ValidationError as error:
            problems = [{"loc": list(item["loc"]), "msg": item["msg"]} for item in error.errors()]
            return json_reply({"error": "invalid fault settings", "problems": problems}, 422)
    return json_reply(state.settings.faults.model_dump(mode="json"))


def routes() -> list[Route]:
    """The routes under ``/_sandbox``."""
    return [
        Route("/ledger", ledger, methods=["GET"]),
        Route("/balances", balances, methods=["GET"]),
        Route("/settings", settings, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/faults", faults, methods=["GET", "PUT"]),
        Route("/webhooks/{name}", sink_receive, methods=["POST"]),
        Route("/webhooks/{name}", sink_list, methods=["GET"]),
    ]
