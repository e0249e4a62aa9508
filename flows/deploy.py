"""Scheduled refreshes as Prefect deployments of the main flow: created for a work pool's workers, or served here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.types.entrypoint import EntrypointType

from flows.edit_catalog import edit_catalog
from tasks.core.config import load_config
from tasks.costs.schedule import scheduled_runs
from tasks.pipeline.refresh import RefreshSchedule, config_digest

__all__ = ["deploy_refresh", "refresh_deployment", "refresh_parameters", "serve_refresh"]


def refresh_parameters(config: Path, cron: str, *, wait: float, horizon_days: float = 30.0) -> dict[str, Any]:
    """The main flow's parameters for a refresh of `config`: its absolute path and the content hash pinned.

    The deployment stores the path, not the YAML: the file stays the one source of truth (in version
    control, beside the catalog), a key written in it never lands in Prefect's database, and the pin
    makes a run refuse a file edited since, so what a schedule spends changes only by deploying again.

    Raises:
        ConfigError: the config or the cron expression is invalid (checked before anything is created).
    """
    path = config.resolve()
    load_config(path)
    now = datetime.now(UTC)
    scheduled_runs(cron, now, now)  # an invalid expression fails here, not at the first run
    schedule = RefreshSchedule(cron=cron, config_sha256=config_digest(path), wait=wait, horizon_days=horizon_days)
    return {"config_path": str(path), "schedule": schedule.model_dump(mode="json")}


def refresh_deployment(
    config: Path, cron: str, *, name: str | None = None, wait: float = 600.0, work_pool: str | None = None
) -> RunnerDeployment:
    """A deployment of the main flow refreshing `config` on `cron` (the flow imported by module path).

    By module path (`flows.edit_catalog.edit_catalog`): wherever retouch is installed, a worker or a served
    process finds the flow without a copy of this checkout.
    """
    # to_deployment and deploy are typed as sync-or-async; called from synchronous code they return the value.
    deployment = edit_catalog.to_deployment(
        name=name or f"refresh-{config.stem}",
        cron=cron,
        parameters=refresh_parameters(config, cron, wait=wait),
        description=f"Scheduled refresh of {config.resolve()}: edits only new or changed catalog rows.",
        tags=["retouch", "refresh"],
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return cast(RunnerDeployment, deployment)


def deploy_refresh(
    config: Path, cron: str, *, work_pool: str, name: str | None = None, wait: float = 600.0, image: str | None = None
) -> UUID:
    """Create (or update) the deployment on the Prefect API; a worker of `work_pool` runs it.

    Raises:
        ConfigError: see `refresh_parameters`.
        ValueError: the work pool does not exist on the API (Prefect's message says how to create it).
    """
    deployment = refresh_deployment(config, cron, name=name, wait=wait, work_pool=work_pool)
    # Applied directly rather than through `prefect.deploy`, which builds images and (3.8.8) sends a workers
    # query its own server rejects; all it adds for a pool without a build step is this existence check.
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(work_pool)
        except ObjectNotFound:
            raise ValueError(
                f"no work pool {work_pool!r} on {client.api_url}: create it with "
                f"`prefect work-pool create {work_pool} --type process` (or give --work-pool)"
            ) from None
        deployment_id = cast(UUID, deployment.apply(work_pool_name=work_pool, image=image))
        # A worker runs a deployment without pull steps in a copy of its own working directory: run it
        # here instead, so the config's relative paths (catalog.uri, output.uri) mean what `retouch run`
        # reads them as. The same step as prefect.yaml's; a worker's machine needs this directory too.
        here = {"prefect.deployments.steps.set_working_directory": {"directory": str(Path.cwd())}}
        client.update_deployment(deployment_id, DeploymentUpdate(pull_steps=[here]))
    return deployment_id


def serve_refresh(config: Path, cron: str, *, name: str | None = None, wait: float = 600.0) -> None:
    """Serve the deployment from this process until stopped: runs start here, one at a time."""
    serve(refresh_deployment(config, cron, name=name, wait=wait), limit=1)
