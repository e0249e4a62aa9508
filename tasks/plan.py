"""Expand catalog rows × edit variants × seeds into jobs with stable, content-derived job keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from tasks.catalog import CatalogRow
from tasks.config import EditVariant, PipelineConfig
from tasks.errors import ConfigError
from tasks.models import EditJob, ImageRef
from tasks.providers.registry import provider_class

__all__ = ["KEY_VERSION", "check_variants", "job_key", "plan_jobs", "render_prompt", "output_path"]

# Bump when the canonical request changes shape, so old keys are not mistaken for new work.
KEY_VERSION = 1


def check_variants(config: PipelineConfig) -> None:
    """Validate every variant's params with its provider's documented ranges, before any work.

    Raises:
        ConfigError: naming `edits[i].params`, the value and the accepted range.
    """
    for index, variant in enumerate(config.edits):
        adapter = provider_class(variant.provider)
        for seed in variant.seeds:
            try:
                adapter.check_params(dict(variant.params), model=variant.model, count=variant.count, seed=seed)
            except ValueError as error:
                raise ConfigError(
                    f"edits[{index}] ({variant.name}, provider {variant.provider}): {error}",
                    path=f"edits[{index}].params",
                ) from None


def plan_jobs(rows: Iterable[CatalogRow], config: PipelineConfig) -> Iterator[EditJob]:
    """Jobs for every row × variant × seed, generated lazily in catalog order."""
    for row in rows:
        for variant in config.edits:
            prompt = render_prompt(variant, row)
            for seed in variant.seeds:
                yield _job(row, variant, prompt, seed)


def render_prompt(variant: EditVariant, row: CatalogRow) -> str:
    """Fill the variant's prompt template from the row ({prompt} and any catalog column)."""
    values = {"prompt": row.prompt, "id": row.id, **{key: "" if value is None else value for key, value in row.extras.items()}}
    try:
        return variant.prompt.format_map(values)
    except KeyError as error:
        raise ConfigError(
            f"edits '{variant.name}'.prompt uses {{{error.args[0]}}}, which is not a catalog column; "
            f"available: {', '.join(sorted(values))}",
            path=f"edits.{variant.name}.prompt",
        ) from None


def job_key(
    *,
    row_id: str,
    variant: str,
    image: ImageRef,
    prompt: str,
    provider: str,
    model: str | None,
    params: dict[str, Any],
    seed: int | None,
    count: int,
    mask: ImageRef | None = None,
    image_context: ImageRef | None = None,
) -> str:
    """The sha256 (hex, 32 chars) of the canonical request: equal keys mean the same work."""
    canonical = {
        "v": KEY_VERSION,
        "row": row_id,
        "variant": variant,
        "image": image.identity,
        "mask": mask.identity if mask else None,
        "context": image_context.identity if image_context else None,
        "prompt": prompt,
        "provider": provider,
        "model": model,
        "params": params,
        "seed": seed,
        "count": count,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def output_path(job: EditJob, index: int, extension: str) -> str:
    """Where output `index` of `job` is stored, relative to `output.uri`."""
    return f"images/{job.variant}/{job.job_key[:2]}/{job.job_key}_{index}.{extension}"


def _job(row: CatalogRow, variant: EditVariant, prompt: str, seed: int) -> EditJob:
    params = dict(variant.params)
    key = job_key(
        row_id=row.id,
        variant=variant.name,
        image=row.image,
        prompt=prompt,
        provider=variant.provider,
        model=variant.model,
        params=params,
        seed=seed,
        count=variant.count,
        mask=row.mask,
        image_context=row.image_context,
    )
    return EditJob(
        job_key=key,
        row_id=row.id,
        variant=variant.name,
        provider=variant.provider,
        model=variant.model,
        prompt=prompt,
        params_json=json.dumps(params, sort_keys=True, default=str),
        seed=seed,
        count=variant.count,
        image=row.image,
        mask=row.mask,
        image_context=row.image_context,
        extras_json=json.dumps(row.extras, sort_keys=True, default=str),
    )
