"""Accept rules and quality settings: validated with the config, errors naming the YAML field, then applied."""

from __future__ import annotations

import pytest

from tasks.core.config import parse_config
from tasks.core.errors import ConfigError
from tasks.core.models import EditResult, ImageRef, StoredOutput
from tasks.core.quality_config import parse_rules
from tasks.pipeline.plan import check_variants, plan_jobs
from tasks.quality import Outcome, chain_steps, next_step, outcome, verdict, within_cap


def config(**variant: object) -> dict:
    edit = {"name": "v", "provider": "pixapi.edits", "model": "gemini-2.5-flash-image", "seeds": [1, 2], **variant}
    return {"catalog": {"uri": "c.parquet"}, "edits": [edit], "output": {"uri": "out"}}


def test_the_issue_s_rules_load_and_judge_scores() -> None:
    loaded = parse_config(config(accept={"ssim_outside_mask": ">= 0.85", "changed": ">= 0.02", "not_blank": True}))
    rules = parse_rules(loaded.edits[0].accept)
    assert verdict(rules, {"ssim_outside_mask": 0.9, "changed": 0.1, "blank": False}) == (True, None)
    assert verdict(rules, {"ssim_outside_mask": 0.5, "changed": 0.01, "blank": True}) == (
        False,
        "ssim_outside_mask,changed,not_blank",
    )
    assert verdict(rules, {"ssim_outside_mask": None, "changed": 0.5, "blank": False}) == (True, None)  # not scorable
    assert verdict((), {"changed": 0.0}) == (None, None)


@pytest.mark.parametrize(
    ("variant", "where", "words"),
    [
        ({"accept": {"changed": "more than 0.02"}}, "edits[0].accept", "rule 'changed': expected a comparison"),
        ({"accept": {"changed": 0.02}}, "edits[0].accept", "expected a comparison"),
        ({"accept": {"sharpnes": ">= 10"}}, "edits[0].accept", "rule 'sharpnes' names no score"),
        ({"on_reject": {"retry_seeds": -1}}, "edits[0].on_reject.retry_seeds", "greater than or equal to 0"),
        ({"fallback": ["nobody.edit"]}, "edits[0].fallback", "unknown provider 'nobody.edit'"),
        ({"max_cost_per_accepted": -1}, "edits[0].max_cost_per_accepted", "greater than or equal to 0"),
        ({"scorers": ["clip"]}, "edits[0].scorers", "unknown scorers ['clip']"),
    ],
)
def test_bad_quality_settings_name_the_yaml_field(variant: dict, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(**variant))
    assert f"{where}: " in str(caught.value) and words in str(caught.value)


def test_an_optional_scorer_s_values_may_be_ruled_on() -> None:
    loaded = parse_config(config(scorers=["colorfulness"], accept={"colorfulness": ">= 5"}))
    assert loaded.edits[0].scorers == ["colorfulness"]


def test_fallback_params_are_checked_with_their_provider() -> None:
    loaded = parse_config(config(fallback=[{"provider": "fashn.edit", "params": {"resolution": "8k"}}]))
    with pytest.raises(ConfigError, match=r"edits\[0\] \(v, provider fashn.edit\)") as caught:
        check_variants(loaded)
    assert caught.value.path == "edits[0].fallback[0].params"


def test_fallback_providers_get_their_defaults_merged() -> None:
    loaded = parse_config(config(fallback=["fashn.edit"]))
    assert loaded.providers["fashn.edit"].rate_limit is not None  # its documented limits, merged at load


def test_a_chain_regenerates_then_falls_back_and_switches_on_refusal() -> None:
    variant = parse_config(config(on_reject={"retry_seeds": 2}, fallback=["fashn.edit"])).edits[0]
    steps = [(step.target.provider, step.seed) for step in chain_steps(variant, 2)]
    # Seed 2 is the variant's second seed: its retries are 5, 6 (seed 1 takes 3, 4).
    assert steps == [("pixapi.edits", 2), ("pixapi.edits", 5), ("pixapi.edits", 6),
                     ("fashn.edit", 2), ("fashn.edit", 5), ("fashn.edit", 6)]  # fmt: skip
    after_reject = next_step(variant, 2, 1, Outcome.REJECTED)
    after_refusal = next_step(variant, 2, 1, Outcome.SWITCH)
    assert after_reject is not None and (after_reject.target.provider, after_reject.seed) == ("pixapi.edits", 5)
    assert after_refusal is not None and (after_refusal.target.provider, after_refusal.attempt) == ("fashn.edit", 4)
    assert next_step(variant, 2, 6, Outcome.REJECTED) is None and next_step(variant, 2, 1, Outcome.DONE) is None


def test_what_a_result_means_for_its_chain() -> None:
    loaded = parse_config(config(accept={"changed": ">= 0.1"}))
    rows = [type("Row", (), {"id": "r", "image": ImageRef("path", "a.png"), "mask": None, "image_context": None,
                             "prompt": "p", "extras": {}})()]  # fmt: skip
    job = next(plan_jobs(rows, loaded))  # type: ignore[arg-type]
    stored = StoredOutput(0, "u", 1, 1, "png", 1, "s", accepted=False, rejected_by="changed")

    def ended(**fields: object) -> Outcome:
        return outcome(EditResult(job=job, run_id="r", **fields))  # type: ignore[arg-type]

    assert ended(status="succeeded", outputs=(stored,)) is Outcome.REJECTED
    assert ended(status="failed", error_type="ContentRejected") is Outcome.SWITCH
    assert ended(status="failed", error_type="InsufficientCredits") is Outcome.SWITCH
    assert ended(status="skipped", error_type="LaneStopped") is Outcome.SWITCH
    assert ended(status="failed", error_type="ProviderUnavailable") is Outcome.SWITCH
    assert ended(status="failed", error_type="JobFailed") is Outcome.REJECTED
    assert ended(status="failed", error_type="InvalidRequest") is Outcome.STOP
    assert ended(status="unknown", error_type="SubmitOutcomeUnknown", billing_risk=True) is Outcome.STOP
    assert ended(status="skipped", error_type="BudgetExceeded") is Outcome.STOP


def test_the_cost_cap_admits_a_step_only_when_it_fits() -> None:
    assert within_cap(None, 10.0, None)
    assert within_cap(0.05, 0.04, 0.01) and not within_cap(0.05, 0.04, 0.02)
    assert not within_cap(1.0, 0.0, None)  # an unpriced step could pass any cap
