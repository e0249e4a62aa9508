"""`retouch runs` lists an output's runs; `retouch report` picks the newest that did work, or says which exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.kit import assert_fits, invoke

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run_ids(output_dir: Path) -> list[str]:
    return sorted(path.stem for path in (output_dir / "runs").glob("*.json"))


def test_runs_lists_each_run_oldest_first_with_counts_spend_and_forecast(config: Path) -> None:
    assert invoke("run", str(config)).exit_code == 0
    assert invoke("run", str(config)).exit_code == 0  # everything done: a run that does nothing
    first, second = _run_ids(config.parent / "out")

    listed = invoke("runs", str(config))

    assert listed.exit_code == 0, listed.output
    assert_fits(listed.output)
    assert listed.output.index(first) < listed.output.index(second)  # newest last
    assert "9 succeeded" in listed.output and "nothing to do" in listed.output
    assert listed.output.count("0 credits") == 4  # spent and forecast, both runs: local edits are free
    assert "0.00 USD" in listed.output and "none saved" not in listed.output
    assert f"shows {first} by default" in listed.output
    by_uri = invoke("runs", str(config.parent / "out"))
    assert by_uri.exit_code == 0 and first in by_uri.output and second in by_uri.output


def test_report_after_two_runs_shows_the_first_runs_work_and_its_forecast(config: Path) -> None:
    invoke("run", str(config))
    invoke("run", str(config))
    first, second = _run_ids(config.parent / "out")

    shown = invoke("report", str(config))

    assert shown.exit_code == 0, shown.output
    assert f"run {first}" in shown.output and second not in shown.output.split("written:")[0]
    assert "9 succeeded (9 images)" in shown.output
    assert "No forecast was saved" not in shown.output and "Forecast: 0 credits" in shown.output
    assert_fits(shown.output.split("written:")[0])
    for line in shown.output.split("written:")[1].split():
        assert Path(line).exists()  # every path printed whole
    nothing = invoke("report", str(config), "--run", second)
    assert nothing.exit_code == 0
    assert "No forecast was saved" not in nothing.output and "Forecast: no job to run" in nothing.output


def test_report_of_an_unknown_run_lists_the_runs_there(config: Path) -> None:
    invoke("run", str(config))
    (run_id,) = _run_ids(config.parent / "out")

    answer = invoke("report", str(config), "--run", "20990101T000000Z-nope")

    assert answer.exit_code == 2
    assert "no run 20990101T000000Z-nope" in answer.output and run_id in answer.output
    assert "Traceback" not in answer.output


def test_a_dry_run_manifest_is_listed_as_one(config: Path) -> None:
    invoke("run", str(config))
    (run_id,) = _run_ids(config.parent / "out")
    manifest = config.parent / "out" / "runs" / f"{run_id}.json"
    dry = json.loads(manifest.read_text()) | {"run_id": "20990101T000000Z-dry", "dry_run": True, "counts": {}}
    manifest.with_name("20990101T000000Z-dry.json").write_text(json.dumps(dry))

    listed = invoke("runs", str(config.parent / "out"))

    assert "(dry run)" in listed.output and "9 planned" in listed.output
    assert f"shows {run_id} by default" in listed.output  # a dry run did no work


def test_runs_and_report_of_a_missing_output_exit_2(tmp_path: Path) -> None:
    for command in ("runs", "report", "show"):
        for target in ("nope.yaml", str(tmp_path / "nowhere")):
            answer = invoke(command, target)
            assert answer.exit_code == 2, (command, target, answer.output)
            assert "error:" in answer.output and "Traceback" not in answer.output
