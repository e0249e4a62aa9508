"""The report's tables: actual against forecast, cost per succeeded image, and what failures cost."""

from __future__ import annotations

import polars as pl

from tasks.costs.forecast import FORECAST_SCHEMA

__all__ = ["actual_vs_forecast", "cost_per_image", "failures"]

_KEYS = ["provider", "model"]


def actual_vs_forecast(ledger: pl.DataFrame, forecast: pl.DataFrame | None) -> pl.DataFrame:
    """Per provider/model: forecast and actual images, credits and money, and the deltas in percent.

    `forecast_*` totals count priced jobs only; `unknown_jobs` counts forecast jobs without a price plus
    ledger rows billed at an unknown price, so a null or partial figure is never mistaken for zero.
    """
    actual = ledger.group_by(_KEYS).agg(
        pl.len().alias("billed_requests"),
        pl.col("images").filter(pl.col("status") == "succeeded").sum().alias("actual_images"),
        pl.col("credits").sum().alias("actual_credits"),
        pl.col("money").sum().alias("actual_money"),
        pl.col("credits").is_null().sum().alias("actual_unknown"),
    )
    planned = (
        (forecast if forecast is not None else pl.DataFrame(schema=FORECAST_SCHEMA))
        .group_by(_KEYS)
        .agg(
            pl.col("images").sum().alias("forecast_images"),
            pl.col("known_credits").sum().alias("forecast_credits"),
            pl.col("known_money").sum().alias("forecast_money"),
            pl.col("unknown_jobs").sum().alias("forecast_unknown"),
        )
    )
    joined = planned.join(actual, on=_KEYS, how="full", coalesce=True)
    return joined.with_columns(
        _delta("actual_credits", "forecast_credits").alias("delta_credits_pct"),
        _delta("actual_money", "forecast_money").alias("delta_money_pct"),
        (pl.col("forecast_unknown").fill_null(0) + pl.col("actual_unknown").fill_null(0)).alias("unknown_jobs"),
    ).select(
        *_KEYS, "forecast_images", "actual_images", "forecast_credits", "actual_credits", "delta_credits_pct",
        "forecast_money", "actual_money", "delta_money_pct", "billed_requests", "unknown_jobs",
    ).sort(_KEYS)  # fmt: skip


def cost_per_image(ledger: pl.DataFrame) -> pl.DataFrame:
    """Per provider/model: everything spent (failures included) divided by the images that succeeded."""
    succeeded = pl.col("images").filter(pl.col("status") == "succeeded").sum()
    frame = ledger.group_by(_KEYS).agg(
        succeeded.alias("succeeded_images"),
        pl.col("credits").sum().alias("credits"),
        pl.col("money").sum().alias("money"),
    )
    per = pl.when(pl.col("succeeded_images") > 0)
    return frame.with_columns(
        per.then(pl.col("credits") / pl.col("succeeded_images")).otherwise(None).alias("credits_per_image"),
        per.then(pl.col("money") / pl.col("succeeded_images")).otherwise(None).alias("money_per_image"),
    ).sort(_KEYS)


def failures(results: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """Per provider and error type: failed jobs, how many of them were billed, and what they cost."""
    failed = (
        results.filter(pl.col("status") == "failed")
        .group_by("provider", "error_type")
        .agg(pl.col("job_key").n_unique().alias("failed_jobs"))
    )
    billed = (
        ledger.filter(pl.col("status") == "failed")
        .group_by("provider", "error_type")
        .agg(
            pl.len().alias("billed_jobs"),
            pl.col("credits").sum().alias("credits"),
            pl.col("money").sum().alias("money"),
        )
    )
    joined = failed.join(billed, on=["provider", "error_type"], how="full", coalesce=True, nulls_equal=True)
    return joined.with_columns(
        pl.col("failed_jobs").fill_null(0),
        pl.col("billed_jobs").fill_null(0),
        pl.col("credits").fill_null(0.0),
        pl.col("money").fill_null(0.0),
    ).sort("provider", "error_type")


def _delta(actual: str, planned: str) -> pl.Expr:
    return (
        pl.when(pl.col(planned) > 0)
        .then((pl.col(actual).fill_null(0.0) - pl.col(planned)) / pl.col(planned) * 100)
        .otherwise(None)
    )
