"""The run report's quality section: accepted vs rejected by provider and by rule, cost per accepted image."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from tasks.reports.markdown import markdown_table

__all__ = ["acceptance_by_provider", "quality_markdown", "quality_tables", "rejections_by_rule"]

_EXAMPLES = 12  # rejected outputs listed, with the rules that rejected each


def quality_tables(results: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The quality tables of a run's results; empty when no output was judged (no variant had rules)."""
    if "accepted" not in results.columns or results["accepted"].is_null().all():
        return {}
    return {"acceptance": acceptance_by_provider(results), "rejections": rejections_by_rule(results)}


def acceptance_by_provider(results: pl.DataFrame) -> pl.DataFrame:
    """Per provider: outputs judged, accepted, rejected, the accepted share, spend, and spend per accepted output.

    Spend is every row's cost on that provider, rejected outputs and failed jobs included.
    """
    return (
        results.group_by("provider")
        .agg(
            judged=pl.col("accepted").is_not_null().sum(),
            accepted=pl.col("accepted").fill_null(False).sum(),
            rejected=(pl.col("accepted") == False).fill_null(False).sum(),  # noqa: E712 (a polars expression)
            cost=pl.col("cost").fill_null(0.0).sum(),
        )
        .with_columns(
            share=pl.col("accepted") / pl.col("judged"),
            cost_per_accepted=pl.when(pl.col("accepted") > 0).then(pl.col("cost") / pl.col("accepted")),
        )
        .sort("provider")
    )


def rejections_by_rule(results: pl.DataFrame) -> pl.DataFrame:
    """Rejected outputs per provider and rule (an output failing two rules counts under each)."""
    rejected = results.filter(pl.col("accepted") == False).select("provider", "rejected_by")  # noqa: E712
    exploded = rejected.with_columns(rule=pl.col("rejected_by").str.split(",")).explode("rule")
    return exploded.group_by("provider", "rule").agg(outputs=pl.len()).sort("provider", "rule")


def quality_markdown(results: pl.DataFrame, tables: Mapping[str, pl.DataFrame], currency: str) -> str:
    """The report's "Quality" section (empty text when `tables` holds no quality tables)."""
    if "acceptance" not in tables:
        return ""
    acceptance = tables["acceptance"]
    accepted, spent = int(acceptance["accepted"].sum()), float(acceptance["cost"].sum())
    overall = f"{spent / accepted:,.4f} {currency}" if accepted else "— (nothing accepted)"
    rows = [
        {**row, "share": None if row["share"] is None else f"{row['share']:.0%}",
         "cost": _money(row["cost"], currency), "cost_per_accepted": _money(row["cost_per_accepted"], currency)}
        for row in acceptance.to_dicts()
    ]  # fmt: skip
    parts = [
        "## Quality",
        f"Cost per accepted image: **{overall}** ({accepted} accepted outputs, {spent:,.4f} {currency} spent).",
        markdown_table(rows, _ACCEPTANCE),
        "### Rejected, by rule",
        markdown_table(tables["rejections"].to_dicts(), {"provider": "provider", "rule": "rule", "outputs": "outputs"}),
    ]
    examples = results.filter(pl.col("accepted") == False).head(_EXAMPLES)  # noqa: E712
    if not examples.is_empty():
        parts.append("### Rejected examples")
        parts.append(
            "\n".join(
                f"- {row['row_id']} · {row['provider']} · attempt {row['attempt']}: rejected by "
                f"{row['rejected_by']} — {row['output_uri']}"
                for row in examples.to_dicts()
            )
        )
    return "\n\n".join(parts)


def _money(value: float | None, currency: str) -> str | None:
    return None if value is None else f"{value:,.4f} {currency}"


_ACCEPTANCE = {
    "provider": "provider",
    "judged": "outputs judged",
    "accepted": "accepted",
    "rejected": "rejected",
    "share": "accepted share",
    "cost": "spent",
    "cost_per_accepted": "cost per accepted",
}
