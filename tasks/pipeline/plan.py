"""Expand catalog rows × edit variants × seeds into jobs with stable, content-derived job keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tasks.core.config import ColumnMapping, EditVariant, PipelineConfig
from tasks.core.errors import ConfigError
from tasks.core.models import EditJob, ImageRef
from tasks.pipeline.catalog import CatalogRow
from tasks.providers.registry import provider_class

__all__ = [
    "KEY_VERSION",
    "check_templates",
    "check_variants",
    "job_key",
    "plan_jobs",
    "prompt_values",
    "providers_in_use",
    "render_prompt",
]

# Bump when the canonical request changes shape, so old keys are not mistaken for new work.
KEY_VERSION = 1


def check_variants(config: PipelineConfig) -> None:
    """Validate every variant's params with its provider's documented ranges, before any work.

    Every variant and seed is checked, so one message names all the problems at once.

    Raises:
        ConfigError: naming `edits[i].params`, the value and the accepted range, for each bad variant.
    """
    problems: list[ConfigError] = []
    for index, variant in enumerate(config.edits):
        targets = [(variant.provider, variant.model, variant.params, "params")]
        targets += [(t.provider, t.model, t.params, f"fallback[{i}].params") for i, t in enumerate(variant.fallback)]
        for provider, model, params, field in targets:
            problems += [
                ConfigError(
                    f"edits[{index}] ({variant.name}, provider {provider}): {text}", path=f"edits[{index}].{field}"
                )
                for text in _param_problems(provider, model, params, variant)
            ]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{len(problems)} problems with edit params:\n{lines}", path="edits")


def _param_problems(provider: str, model: str | None, params: dict[str, Any], variant: EditVariant) -> list[str]:
    """What the provider's documented ranges say of these params, once per problem whatever the seed."""
    adapter = provider_class(provider)
    found: list[str] = []
    for seed in variant.seeds:
        try:
            adapter.check_params(dict(params), model=model, count=variant.count, seed=seed)
        except ValueError as error:
            if str(error) not in found:  # a problem the seed does not change is named once
                found.append(str(error))
    return found


def providers_in_use(config: PipelineConfig) -> tuple[str, ...]:
    """The providers the config's edit variants name (their `fallback` entries too), sorted, each once.

    A fallback provider's key, base URL and balance are checked before the run like any other's.
    """
    names = {variant.provider for variant in config.edits}
    names |= {target.provider for variant in config.edits for target in variant.fallback}
    return tuple(sorted(names))


def plan_jobs(rows: Iterable[CatalogRow], config: PipelineConfig) -> Iterator[EditJob]:
    """Jobs for every row × variant × seed, lazily, in catalog order.

    Raises:
        ConfigError: a prompt template names a column the catalog lacks (every such template is named).
    """
    variants = [_VariantPlan.of(variant) for variant in config.edits]
    checked = False
    for row in rows:
        if not checked:  # the names a template may use are the same on every row: check them all once
            check_templates(config.edits, row, config.catalog.columns)
            checked = True
        row_fragment = _row_fragment(row.id, row.image, row.mask, row.image_context)
        extras_items = tuple(row.extras.items())
        for plan in variants:
            prompt = render_prompt(plan.variant, row, config.catalog.columns)
            for seed in plan.variant.seeds:
                yield EditJob(
                    job_key=_digest(row_fragment, plan.fragment, prompt, seed),
                    row_id=row.id,
                    variant=plan.variant.name,
                    provider=plan.variant.provider,
                    model=plan.variant.model,
                    prompt=prompt,
                    params_json=plan.params_json,
                    seed=seed,
                    count=plan.variant.count,
                    image=row.image,
                    mask=row.mask,
                    image_context=row.image_context,
                    extras_items=extras_items,
                )


def prompt_values(row: CatalogRow, columns: ColumnMapping | None = None) -> dict[str, Any]:
    """The names a prompt template may use, with their values for `row`.

    `{prompt}` and `{id}`; the catalog's own names of those two columns (`{instruction}` where the mapping
    says `prompt: instruction`); and every other catalog column.
    """
    values: dict[str, Any] = {key: "" if value is None else value for key, value in row.extras.items()}
    if columns is not None:
        values.update({columns.prompt: row.prompt, columns.id: row.id})
    values.update({"prompt": row.prompt, "id": row.id})
    return values


def render_prompt(variant: EditVariant, row: CatalogRow, columns: ColumnMapping | None = None) -> str:
    """Fill the variant's prompt template from the row (see `prompt_values` for the names it may use).

    Raises:
        ConfigError: the template names a column the catalog does not have; the message lists those it has.
    """
    values = prompt_values(row, columns)
    try:
        return variant.prompt.format_map(values)
    except KeyError as error:
        raise ConfigError(
            f"edits '{variant.name}'.prompt uses {{{error.args[0]}}}, which is not a catalog column; "
            f"available: {', '.join(sorted(values))}",
            path=f"edits.{variant.name}.prompt",
        ) from None


def check_templates(variants: Iterable[EditVariant], row: CatalogRow, columns: ColumnMapping | None = None) -> None:
    """Fill every variant's prompt template from `row`, so one message names every template that fails.

    Raises:
        ConfigError: the one failure, or all of them listed.
    """
    problems = []
    for variant in variants:
        try:
            render_prompt(variant, row, columns)
        except ConfigError as error:
            problems.append(error)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{len(problems)} prompt templates name columns the catalog lacks:\n{lines}", path="edits")


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
    row = _row_fragment(row_id, image, mask, image_context)
    return _digest(row, _variant_fragment(variant, provider, model, params, count), prompt, seed)


@dataclass(frozen=True)
class _VariantPlan:
    variant: EditVariant
    params_json: str
    fragment: str

    @classmethod
    def of(cls, variant: EditVariant) -> _VariantPlan:
        params = dict(variant.params)
        fragment = _variant_fragment(variant.name, variant.provider, variant.model, params, variant.count)
        return cls(variant, json.dumps(params, sort_keys=True, default=str), fragment)


# The canonical request is serialised in fragments, once per row and once per variant, because at a
# million rows the per-job cost matters. JSON never holds a raw newline and the seed comes last, so
# joining the parts with newlines is unambiguous.
def _row_fragment(row_id: str, image: ImageRef, mask: ImageRef | None, context: ImageRef | None) -> str:
    return _canonical(
        {
            "v": KEY_VERSION,
            "row": row_id,
            "image": image.identity,
            "mask": mask.identity if mask else None,
            "context": context.identity if context else None,
        }
    )


def _variant_fragment(name: str, provider: str, model: str | None, params: dict[str, Any], count: int) -> str:
    return _canonical({"variant": name, "provider": provider, "model": model, "params": params, "count": count})


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(row_fragment: str, variant_fragment: str, prompt: str, seed: int | None) -> str:
    text = f"{row_fragment}\n{variant_fragment}\n{prompt}\n{seed}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]
