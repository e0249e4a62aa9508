"""A pilot's arithmetic: a seeded stratified sample, acceptance and cost per candidate, projections with intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

__all__ = ["Interval", "PilotStats", "choose_winner", "pilot_stats", "project_chained", "sample_ids"]

_Z = 1.96  # a 95% interval


@dataclass(frozen=True)
class Interval:
    """A 95% interval around an estimate."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class PilotStats:
    """One candidate's pilot: what it accepted, what that cost, how long it took, and the whole catalog projected.

    A chain is one row × seed (with its regenerations); `acceptance` is the share of chains that ended
    with an accepted output (every succeeded chain when the variant has no rules).
    """

    provider: str
    chains: int
    accepted: int
    acceptance: Interval
    cost: float
    cost_per_accepted: float | None
    seconds_per_image: float | None
    projected_cost: Interval
    projected_seconds: Interval


def sample_ids(ids: Sequence[str], strata: Sequence[object] | None, share: float, seed: int) -> list[str]:
    """A seeded sample of `share` of the ids, drawn within each stratum (at least one id from each).

    Args:
        ids: every catalog row id.
        strata: each id's stratum (a column's value); None draws from all ids at random.
        share: the fraction to draw, in (0, 1].
        seed: the draw's seed: the same seed and catalog give the same sample.
    """
    rng = random.Random(seed)
    groups: dict[str, list[str]] = {}
    for index, row_id in enumerate(ids):
        groups.setdefault("" if strata is None else repr(strata[index]), []).append(row_id)
    chosen: list[str] = []
    for key in sorted(groups):
        members = groups[key]
        chosen += rng.sample(members, max(1, round(len(members) * share)))
    return sorted(chosen)


def pilot_stats(provider: str, results: pl.DataFrame, *, catalog_chains: int, wall_seconds: float) -> PilotStats:
    """Summarise one candidate's pilot results and project them onto `catalog_chains` chains.

    Args:
        provider: the candidate.
        results: its pilot's results rows (`job_key`, `retry_of`, `status`, `accepted`, `cost`, `latency_ms`).
        catalog_chains: chains a full run would have (catalog rows × the variant's seeds).
        wall_seconds: how long the pilot's run took, for the projected duration.
    """
    chains = _chains(results)
    n = max(chains.height, 1)
    accepted = int(chains["ok"].sum())
    costs = chains["cost"].to_list()
    jobs = results.unique("job_key")
    latency = jobs["latency_ms"].drop_nulls()
    per_chain_seconds = wall_seconds / n
    return PilotStats(
        provider=provider,
        chains=chains.height,
        accepted=accepted,
        acceptance=_wilson(accepted, chains.height),
        cost=float(sum(costs)),
        cost_per_accepted=float(sum(costs)) / accepted if accepted else None,
        seconds_per_image=float(latency.mean()) / 1000 if latency.len() else None,  # type: ignore[arg-type]
        projected_cost=_projected(costs, catalog_chains),
        projected_seconds=_scaled(per_chain_seconds * catalog_chains, _spread(latency.to_list()), n),
    )


def choose_winner(stats: Sequence[PilotStats]) -> PilotStats | None:
    """The candidate with the lowest cost per accepted image (then the higher acceptance); None if none accepted."""
    ranked = [item for item in stats if item.cost_per_accepted is not None]
    ranked.sort(key=lambda item: (item.cost_per_accepted, -item.acceptance.estimate))
    return ranked[0] if ranked else None


def project_chained(frames: Sequence[pl.DataFrame], *, cap: float | None, catalog_chains: int) -> Interval:
    """The whole catalog's cost with the candidates chained in order, as a full run sends them (README "Quality").

    Each sampled chain (a row and its first seed) walks the first candidate's observed attempts, then the
    next's, as a full run would: it stops at an accepted output, and before an attempt that would take its
    spend past `cap`. A pilot sends each candidate the very jobs (keys) a full run's steps would send, so
    the walk replays what the full run does on the sampled rows.

    Args:
        frames: each candidate's pilot results, in the order the full run tries them (winner first).
        cap: the variant's `max_cost_per_accepted`.
        catalog_chains: chains a full run would have (catalog rows × the variant's seeds).
    """
    attempts = [_attempts(frame) for frame in frames]
    chains = sorted({chain for candidate in attempts for chain in candidate})
    return _projected([_walk([candidate.get(chain, []) for candidate in attempts], cap) for chain in chains],
                      catalog_chains)  # fmt: skip


def _attempts(results: pl.DataFrame) -> dict[tuple[str, int | None], list[tuple[float, bool]]]:
    """Each chain's attempts in order as (cost, accepted), by (row id, first seed)."""
    ok = pl.when(pl.col("accepted").is_null()).then(pl.col("status") == "succeeded").otherwise(pl.col("accepted"))
    steps = (
        results.with_columns(chain=pl.coalesce("retry_of", "job_key"), ok=ok, attempt=pl.col("attempt").fill_null(1))
        .group_by("chain", "attempt")
        .agg(pl.col("row_id").first(), pl.col("seed").first(), pl.col("cost").fill_null(0.0).sum(), pl.col("ok").any())
        .sort("chain", "attempt")
    )
    firsts = dict(steps.filter(pl.col("attempt") == 1).select("chain", "seed").iter_rows())
    found: dict[tuple[str, int | None], list[tuple[float, bool]]] = {}
    for chain, _, row_id, _, cost, accepted in steps.iter_rows():
        found.setdefault((row_id, firsts.get(chain)), []).append((float(cost), bool(accepted)))
    return found


def _walk(candidates: Sequence[Sequence[tuple[float, bool]]], cap: float | None) -> float:
    """A chain's spend over the candidates' attempts (the first attempt is sent whatever the cap)."""
    spent, sent = 0.0, False
    for attempts in candidates:
        for cost, accepted in attempts:
            if sent and cap is not None and spent + cost > cap + 1e-12:
                return spent
            sent = True
            spent += cost
            if accepted:
                return spent
    return spent


def _chains(results: pl.DataFrame) -> pl.DataFrame:
    ok = pl.when(pl.col("accepted").is_null()).then(pl.col("status") == "succeeded").otherwise(pl.col("accepted"))
    return (
        results.with_columns(chain=pl.coalesce("retry_of", "job_key"), ok=ok)
        .group_by("chain")
        .agg(pl.col("ok").any(), pl.col("cost").fill_null(0.0).sum())
    )


def _wilson(successes: int, n: int) -> Interval:
    if n == 0:
        return Interval(0.0, 0.0, 1.0)
    p = successes / n
    centre = (p + _Z**2 / (2 * n)) / (1 + _Z**2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / (1 + _Z**2 / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def _projected(per_chain: Sequence[float], population: int) -> Interval:
    """Total over `population` chains from a sample's mean, with the finite-population standard error."""
    n = len(per_chain)
    if n == 0:
        return Interval(0.0, 0.0, 0.0)
    mean = sum(per_chain) / n
    spread = math.sqrt(sum((c - mean) ** 2 for c in per_chain) / (n - 1)) if n > 1 else 0.0
    correction = math.sqrt(max(0.0, 1 - n / population)) if population else 0.0
    half = _Z * spread / math.sqrt(n) * correction * population
    return Interval(mean * population, max(0.0, mean * population - half), mean * population + half)


def _spread(values: Sequence[float]) -> float:
    """The coefficient of variation of `values` (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return sd / mean if mean else 0.0


def _scaled(estimate: float, variation: float, n: int) -> Interval:
    half = estimate * _Z * variation / math.sqrt(max(n, 1))
    return Interval(estimate, max(0.0, estimate - half), estimate + half)
