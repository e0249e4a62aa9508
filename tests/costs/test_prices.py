"""The price table: shipped prices, aliases, tiers, effective dates, config overrides, unknown prices."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pytest

from tasks.core.config import parse_config
from tasks.core.errors import ConfigError, UnknownPrice
from tasks.costs import PriceTable, load_price_table, size_tier
from tasks.costs.schema import SizeTier
from tasks.providers.registry import known_providers
from tests.costs.kit import TODAY, make_job


def test_every_registered_provider_has_prices(table: PriceTable) -> None:
    for provider in known_providers():
        assert table.provider(provider) is not None, provider


@pytest.mark.parametrize(
    ("size", "quality", "per_image"),
    [
        ("1024x1024", "low", 1),
        ("1536x1024", "medium", 4),  # long edge 1536 is still 1K
        ("2048x1152", "high", 67),
        ("1600x900", "low", 2),  # long edge 1600 is 2K
        ("3840x2160", "medium", 34),
        ("auto", "high", 14),  # size=auto is billed as 1K
        ("1024x1024", "auto", 14),  # quality=auto is billed as high
        (None, None, 14),  # unset: size auto, quality auto
    ],
)
def test_gpt_image_2_is_priced_by_size_tier_and_quality(
    table: PriceTable, size: str | None, quality: str | None, per_image: int
) -> None:
    params = {key: value for key, value in {"size": size, "quality": quality}.items() if value is not None}
    quote = table.quote("pixapi.edits", "gpt-image-2", params, 3, TODAY)
    assert quote.unit_credits == per_image
    assert quote.credits == per_image * 3  # per image: x n
    assert quote.money == pytest.approx(per_image * 3 * 0.01)
    assert quote.per == "image" and quote.known


def test_entry_id_names_the_tier_used(table: PriceTable) -> None:
    quote = table.quote("pixapi.edits", "gpt-image-2", {"size": "2048x2048", "quality": "low"}, 1, TODAY)
    assert quote.entry_id == "pixapi.edits/gpt-image-2@2025-01-01[size=2k,quality=low]"
    assert quote.source and "gpt-image" in quote.source


def test_aliases_price_as_their_model(table: PriceTable) -> None:
    alias = table.quote("pixapi.edits", "nano-banana", {}, 2, TODAY)
    assert alias.model == "gemini-2.5-flash-image"
    assert alias.credits == 4
    pro = table.quote("pixapi.edits", "nano-banana-pro", {"size": "4096x4096"}, 1, TODAY)
    assert (pro.model, pro.credits) == ("gemini-3-pro-image-preview", 16)
    assert table.quote("pixapi.edits", "nano-banana-pro", {"size": "2048x2048"}, 1, TODAY).credits == 8


def test_fashn_is_priced_by_resolution_per_output_image(table: PriceTable) -> None:
    default = table.quote_job(make_job("fashn.edit", None, count=2), TODAY)
    assert (default.model, default.credits) == ("edit", 2)  # 1k, 1 credit x num_images
    four_k = table.quote_job(
        make_job("fashn.edit", None, params={"resolution": "4k", "generation_mode": "fast"}), TODAY
    )
    assert four_k.credits == 5
    assert four_k.entry_id == "fashn.edit/edit@2025-12-01[resolution=4k,generation_mode=default]"


def test_picsart_prices_any_model_per_output_image(table: PriceTable) -> None:
    urn = "urn:air:openai:model:openai:gpt-image-1-image-to-image@1"
    quote = table.quote("picsart.edit", urn, {"format": "PNG"}, 4, TODAY)
    assert (quote.model, quote.credits, quote.entry_id) == (urn, 4, "picsart.edit/default@2025-01-01")
    default = table.quote("picsart.outpaint", None, {}, 2, TODAY)
    assert default.credits == 2 and default.failed_billed


def test_local_costs_nothing(table: PriceTable) -> None:
    quote = table.quote_job(make_job("local", None, count=5), TODAY)
    assert (quote.credits, quote.money) == (0, 0)


def test_a_price_change_keeps_the_old_price_before_its_date() -> None:
    overrides = {
        "providers": {
            "pixapi.edits": {
                "models": {"gemini-2.5-flash-image": [{"effective_from": "2026-06-01", "per": "image", "credits": 3}]},
                "credit_value": [{"effective_from": "2026-07-01", "money": 0.02}],
            }
        }
    }
    table = load_price_table(overrides)
    before = table.quote("pixapi.edits", "nano-banana", {}, 1, date(2026, 5, 31))
    after = table.quote("pixapi.edits", "nano-banana", {}, 1, date(2026, 6, 1))
    later = table.quote("pixapi.edits", "nano-banana", {}, 1, date(2026, 7, 1))
    assert (before.credits, before.money) == (2, pytest.approx(0.02))
    assert (after.credits, after.money) == (3, pytest.approx(0.03))
    assert (later.credits, later.money) == (3, pytest.approx(0.06))
    assert after.entry_id == "pixapi.edits/gemini-2.5-flash-image@2026-06-01"


def test_a_date_before_every_entry_has_no_price(table: PriceTable) -> None:
    with pytest.raises(UnknownPrice, match="first price takes effect on 2025-12-01"):
        table.quote("fashn.edit", None, {}, 1, date(2025, 6, 1))


def test_config_pricing_overrides_and_extends(tmp_path: Path) -> None:
    config = parse_config({
        "catalog": {"uri": str(tmp_path / "catalog.parquet")},
        "edits": [{"name": "a", "provider": "pixapi.edits", "model": "gpt-image-1.5"}],
        "output": {"uri": str(tmp_path / "out")},
        "pricing": {
            "currency": "EUR",
            "providers": {
                "pixapi.edits": {
                    "credit_value": [{"effective_from": "2025-01-01", "money": 0.005}],  # replaces the placeholder
                    "aliases": {"gpt-new": "gpt-image-1.5"},
                    "models": {
                        "gpt-image-1.5": [{"effective_from": "2025-01-01", "per": "request", "credits": 7}],
                        "brand-new": [{"effective_from": "2025-01-01", "per": "image", "credits": 9}],
                    },
                },
            },
        },
    })  # fmt: skip
    table = load_price_table(config.pricing)
    replaced = table.quote("pixapi.edits", "gpt-new", {}, 3, TODAY)
    assert (replaced.credits, replaced.per, replaced.currency) == (7, "request", "EUR")  # per request: not x3
    assert replaced.money == pytest.approx(0.035)
    assert table.quote("pixapi.edits", "brand-new", {}, 2, TODAY).credits == 18
    assert table.quote("pixapi.edits", "gpt-image-2", {}, 1, TODAY).credits == 14  # untouched entries stay


def test_unknown_model_names_provider_model_options_and_the_fix(table: PriceTable) -> None:
    with pytest.raises(UnknownPrice) as caught:
        table.quote("pixapi.edits", "dall-e-9", {"size": "1024x1024"}, 1, TODAY)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.provider, error.model) == ("pixapi.edits", "dall-e-9")
    assert error.options == {"size": "1k", "quality": "high"}
    assert "pricing: providers: pixapi.edits: models: dall-e-9:" in str(error)
    assert "allow_unknown: true" in str(error)
    assert pickle.loads(pickle.dumps(error)).options == error.options


def test_unknown_option_value_is_named(table: PriceTable) -> None:
    with pytest.raises(UnknownPrice, match=r"quality='ultra' \(listed: high, low, medium"):
        table.quote("pixapi.edits", "gpt-image-2", {"quality": "ultra"}, 1, TODAY)
    with pytest.raises(UnknownPrice, match=r"size='square'"):
        table.quote("pixapi.edits", "gpt-image-2", {"size": "square"}, 1, TODAY)


def test_unknown_provider(table: PriceTable) -> None:
    with pytest.raises(UnknownPrice, match=r"no prices for provider 'acme\.edit'"):
        table.quote("acme.edit", "x", {"a": 1}, 1, TODAY)


def test_allow_unknown_gives_an_explicit_unknown_quote() -> None:
    table = load_price_table({"allow_unknown": True})
    quote = table.quote("pixapi.edits", "dall-e-9", {}, 2, TODAY)
    assert not quote.known
    assert (quote.credits, quote.money, quote.source, quote.images) == (None, None, "unknown", 2)
    assert quote.reason and "dall-e-9" in quote.reason


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"providers": {"pixapi.edits": {"colour": "red"}}}, "pricing.providers.pixapi.edits.colour: unknown key"),
        (
            {"providers": {"pixapi.edits": {"models": {"x": [{"effective_from": "2025-01-01", "per": "image",
                                                               "by": ["size"], "credits": 3}]}}}},
            "credits must be a mapping by size",
        ),
        (
            {"providers": {"local": {"models": {"x": [{"effective_from": "2025-01-01", "per": "image",
                                                       "by": ["quality"], "credits": {"high": 1}}]}}}},
            "which options does not define",
        ),
        ({"providers": {"local": {"models": {"x": [{"effective_from": "2025-01-01", "per": "each", "credits": 1}]}}}},
         "pricing.providers.local.models.x[0].per"),
        ({"providers": {"newco": {"models": {}}}}, "pricing.providers.newco.credit_value: Field required"),
    ],
)  # fmt: skip
def test_invalid_pricing_names_the_yaml_path(overrides: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError, match="invalid price table") as caught:
        load_price_table(overrides)
    assert where in str(caught.value)


def test_unreadable_table_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read price table"):
        load_price_table(path=tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("width", "height", "tier"), [(1536, 10, "1k"), (10, 1537, "2k"), (2048, 2048, "2k"), (2049, 1, "4k")]
)
def test_size_tier_edges(width: int, height: int, tier: str) -> None:
    tiers = [SizeTier(name="1k", max_edge=1536), SizeTier(name="2k", max_edge=2048), SizeTier(name="4k")]
    assert size_tier(width, height, tiers) == tier
