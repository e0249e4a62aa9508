"""`retouch pilot`: a seeded sample of the catalog on each candidate provider, compared and projected."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from flows.edit_catalog import edit_catalog
from tasks.core.config import EditVariant, PipelineConfig, load_config
from tasks.core.errors import ConfigError
from tasks.core.quality_config import FallbackTarget
from tasks.costs import load_price_table
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.prepared import PreparedRun, prepare_run
from tasks.preparation import resolve_api_keys
from tasks.quality.pilot import Interval, PilotStats, choose_winner, pilot_stats, project_chained, sample_ids
from tasks.reports.pilot_view import gallery_html, pilot_frame, pilot_markdown
from tasks.storage.fs import Storage
from tasks.storage.layout import pilot_file, pilot_output
from tasks.storage.parts import write_parquet
from tasks.storage.results import read_results

__all__ = ["PilotOutcome", "run_pilot"]


@dataclass(frozen=True)
class PilotOutcome:
    """What the pilot found and where it wrote it."""

    stats: tuple[PilotStats, ...]
    winner: str | None
    projected_cost: Interval | None  # the full run from the winner, its fallbacks included
    sample: tuple[str, ...]
    markdown: str
    command: str | None
    summary_uri: str
    gallery_uri: str


def run_pilot(
    config_path: str,
    *,
    share: float,
    providers: Sequence[str] | None = None,
    stratify: str | None = None,
    seed: int = 0,
    variant: str | None = None,
    confirm: Callable[[PreparedRun], bool] | None = None,
) -> PilotOutcome:
    """Run a stratified sample of the catalog on each candidate of one variant, and compare them.

    Args:
        config_path: the pipeline config; its variant's provider and `fallback` are the candidates.
        share: the catalog share to sample, in (0, 1].
        providers: only these candidates (default: all of the variant's).
        stratify: draw the sample within each value of this catalog column (default: at random).
        seed: the sample's seed.
        variant: the variant to pilot (default: the config's first).
        confirm: asked with each candidate's prepared run before it spends; False skips the candidate.

    Raises:
        ConfigError: an unknown variant, candidate or column (named as the option that gave it).
    """
    config = load_config(config_path)
    chosen = _variant(config, variant)
    candidates = _candidates(chosen, providers)
    ids, strata = _catalog_ids(config, stratify)
    sample = sample_ids(ids, strata, share, seed)
    storage = Storage(config.output.uri, config.output.storage_options)
    stats, frames, stores = [], {}, {}
    for target in candidates:
        piloted = _pilot_config(config, chosen, target, sample, storage)
        prepared = prepare_run(piloted, resolve_api_keys(piloted, [target.provider]), source=config_path)
        if confirm is not None and not confirm(prepared):
            continue
        started = time.monotonic()
        edit_catalog(prepared=prepared)
        wall = time.monotonic() - started
        stores[target.provider] = prepared.storage
        frames[target.provider] = read_results(prepared.storage).filter(pl.col("row_id").is_in(sample))
        chains = len(ids) * len(chosen.seeds)
        stats.append(pilot_stats(target.provider, frames[target.provider], catalog_chains=chains, wall_seconds=wall))
    projected = _full_run_cost(choose_winner(stats), chosen, candidates, frames, len(ids) * len(chosen.seeds))
    return _publish(config_path, config, chosen, candidates, tuple(stats), frames, stores, sample, storage, projected)


def _full_run_cost(
    best: PilotStats | None, chosen: EditVariant, candidates: list[FallbackTarget], frames: dict[str, pl.DataFrame],
    chains: int,
) -> Interval | None:  # fmt: skip
    """The projected cost of the winner's config: the winner, then the others as its fallback, in that order."""
    if best is None:
        return None
    order = [best.provider, *(t.provider for t in candidates if t.provider != best.provider and t.provider in frames)]
    return project_chained([frames[name] for name in order], cap=chosen.max_cost_per_accepted, catalog_chains=chains)


def _publish(
    config_path: str, config: PipelineConfig, chosen: EditVariant, candidates: list[FallbackTarget],
    stats: tuple[PilotStats, ...], frames: dict[str, pl.DataFrame], stores: dict[str, Storage], sample: list[str],
    storage: Storage, projected: Interval | None,
) -> PilotOutcome:  # fmt: skip
    best = choose_winner(stats)
    winner = None if best is None else best.provider
    command = None if winner is None else f"retouch run {_winner_config(config_path, chosen, candidates, winner)}"
    currency = load_price_table(config.pricing).currency
    markdown = pilot_markdown(stats, winner, currency, command, projected)
    summary = storage.write_bytes(pilot_file("summary.md"), markdown.encode())
    write_parquet(storage, pilot_file("summary.parquet"), pilot_frame(stats).to_arrow())
    gallery = storage.write_bytes(pilot_file("gallery.html"), gallery_html(frames, stores).encode())
    return PilotOutcome(stats, winner, projected, tuple(sample), markdown, command, summary, gallery)


def _variant(config: PipelineConfig, name: str | None) -> EditVariant:
    for variant in config.edits:
        if name is None or variant.name == name:
            return variant
    known = ", ".join(variant.name for variant in config.edits)
    raise ConfigError(f"--variant {name!r} is not an edit of the config; edits: {known}", path="edits")


def _candidates(variant: EditVariant, providers: Sequence[str] | None) -> list[FallbackTarget]:
    primary = FallbackTarget(provider=variant.provider, model=variant.model, params=dict(variant.params))
    targets = [primary, *(target for target in variant.fallback if target.provider != variant.provider)]
    if not providers:
        return targets
    known = {target.provider: target for target in targets}
    unknown = [name for name in providers if name not in known]
    if unknown:
        raise ConfigError(
            f"--providers {', '.join(unknown)}: not the provider or a fallback of edit {variant.name!r} "
            f"(candidates: {', '.join(known)}); add it under edits[].fallback with its model and params",
            path="edits",
        )
    return [known[name] for name in providers]


def _catalog_ids(config: PipelineConfig, stratify: str | None) -> tuple[list[str], list[object] | None]:
    ids: list[str] = []
    strata: list[object] = []
    for batch in iter_catalog(config.catalog):
        for row in batch:
            ids.append(row.id)
            if stratify is not None:
                values = {**row.extras, config.catalog.columns.prompt: row.prompt, "prompt": row.prompt}
                if stratify not in values:
                    raise ConfigError(f"--stratify {stratify!r} is not a catalog column; columns: {sorted(values)}")
                strata.append(values[stratify])
    return ids, strata if stratify is not None else None


def _pilot_config(
    config: PipelineConfig, variant: EditVariant, target: FallbackTarget, sample: list[str], storage: Storage
) -> PipelineConfig:
    """The config one candidate runs: the variant alone on it (no fallback), the sample, its own output."""
    quoted = ", ".join("'" + row_id.replace("'", "''") + "'" for row_id in sample)
    rows = f'"{config.catalog.columns.id}" IN ({quoted})'
    where = rows if not config.catalog.filter else f"({config.catalog.filter}) AND {rows}"
    edit = variant.model_copy(
        update={"provider": target.provider, "model": target.model, "params": dict(target.params), "fallback": []}
    )
    return config.model_copy(
        update={
            "edits": [edit],
            "catalog": config.catalog.model_copy(update={"filter": where, "limit": None}),
            "output": config.output.model_copy(update={"uri": storage.url(pilot_output(target.provider))}),
        }
    )


def _winner_config(config_path: str, variant: EditVariant, candidates: list[FallbackTarget], winner: str) -> str:
    """Write the config with the winner as the variant's provider (the others as its fallback), beside the original.

    The YAML is rewritten from the file as written, so ${ENV} references stay references.
    """
    path = Path(config_path)
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit = next(item for item in raw["edits"] if item.get("name") == variant.name)
    best = next(target for target in candidates if target.provider == winner)
    edit.update({"provider": best.provider, "params": dict(best.params)})
    if best.model is None:
        edit.pop("model", None)
    else:
        edit["model"] = best.model
    edit["fallback"] = [target.model_dump(exclude_defaults=True) for target in candidates if target.provider != winner]
    out = path.with_name(f"{path.stem}.pilot-{winner}{path.suffix or '.yaml'}")
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return str(out)
