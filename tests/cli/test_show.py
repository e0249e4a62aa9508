"""`retouch show`: failures by provider × error type with each message, filters, a stable order, exit codes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tasks.core.models import EditJob, EditResult, ImageRef, JobStatus, StoredOutput
from tasks.storage.fs import Storage
from tasks.storage.results import write_results_part
from tests.cli.kit import assert_fits, invoke

# (provider, variant, error type, message, jobs): four providers, five causes, as a real bad day looks.
FAILURES = [
    ("picsart.edit", "clean", "JobFailed", "picsart.edit: output is gone", 5),
    ("picsart.edit", "clean", "RateLimited", "picsart.edit: 429 Too Many Requests after 5 attempts", 3),
    ("fashn.edit", "model", "JobFailed", "fashn.edit: job failed: ImageLoadError", 2),
    ("pixapi.edits", "pix", "AuthError", "pixapi.edits: 401 invalid API key", 4),
    ("local", "mono", "InstructionError", "cannot read 'make it pop'", 4),
    ("local", "mono", "InstructionError", "cannot read 'zoom in'", 2),
]


def _job(key: str, row: str, provider: str, variant: str) -> EditJob:
    return EditJob(
        job_key=key,
        row_id=row,
        variant=variant,
        provider=provider,
        model=None,
        prompt="p",
        params_json="{}",
        seed=1,
        count=1,
        image=ImageRef(kind="path", value=f"/data/{row}.png"),
    )


def _result(job: EditJob, status: JobStatus, run: str, error: tuple[str, str] | None = None) -> EditResult:
    outputs = ()
    if status == "succeeded":
        outputs = (StoredOutput(0, f"/out/images/{job.job_key}_0.png", 8, 8, "png", 10, "0" * 64),)
    return EditResult(
        job=job,
        status=status,
        run_id=run,
        outputs=outputs,
        attempts=1,
        finished_at=time.time(),
        error_type=error[0] if error else None,
        error_message=error[1] if error else None,
    )


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """A results table of two runs: 20 failed jobs, 3 succeeded, and one that failed then succeeded."""
    storage = Storage(str(tmp_path / "out"))
    first, second, number = [], [], 0
    for provider, variant, error_type, message, jobs in FAILURES:
        for _ in range(jobs):
            number += 1
            job = _job(f"k{number:03d}", f"R{number:03d}", provider, variant)
            first.append(_result(job, "failed", "run-1", (error_type, message)))
    for row in ("R900", "R901", "R902"):
        second.append(_result(_job(f"ok-{row}", row, "local", "mono"), "succeeded", "run-2"))
    healed = _job("healed", "R950", "picsart.edit", "clean")
    first.append(_result(healed, "failed", "run-1", ("JobFailed", "picsart.edit: a failure since retried")))
    second.append(_result(healed, "succeeded", "run-2"))
    write_results_part(storage, first, run_id="run-1")
    write_results_part(storage, second, run_id="run-2")
    return tmp_path / "out"


def test_failures_are_grouped_by_provider_and_error_type_with_every_message(output: Path) -> None:
    shown = invoke("show", str(output))

    assert shown.exit_code == 0, shown.output
    assert_fits(shown.output)
    assert "failures (20 jobs, by provider × error type):" in shown.output
    for provider, error_type, total in [
        ("picsart.edit", "JobFailed", 5),
        ("picsart.edit", "RateLimited", 3),
        ("fashn.edit", "JobFailed", 2),
        ("pixapi.edits", "AuthError", 4),
        ("local", "InstructionError", 6),
    ]:
        assert f"{provider} × {error_type}: {total} job(s)" in shown.output
    for _, _, _, message, jobs in FAILURES:
        assert f"{jobs} × {message}" in shown.output
    assert shown.output.count("output is gone") == 1  # never pinned on another provider's failures
    assert "since retried" not in shown.output  # the job's latest row succeeded


def test_show_prints_rows_in_a_stable_order(output: Path) -> None:
    outputs = {invoke("show", str(output), "--rows", "30").output for _ in range(3)}

    assert len(outputs) == 1
    rows = [line.split()[0] for line in outputs.pop().splitlines() if line.startswith("  R")]
    assert len(rows) == 24 and rows == sorted(rows)


def test_show_filters_by_status_variant_and_provider(output: Path) -> None:
    failed_local = invoke("show", str(output), "--status", "failed", "--provider", "local", "--rows", "50")
    assert failed_local.exit_code == 0
    assert "failures (6 jobs" in failed_local.output and "picsart" not in failed_local.output
    assert "succeeded" not in failed_local.output

    mono = invoke("show", str(output), "--variant", "mono", "--status", "succeeded")
    assert "│ mono    │ local    │ succeeded │ 3    │" in mono.output and "failures" not in mono.output

    none = invoke("show", str(output), "--provider", "nobody")
    assert none.exit_code == 0 and "no result rows match --provider nobody" in none.output
    assert "provider: fashn.edit, local, picsart.edit, pixapi.edits" in none.output


def test_show_rejects_an_unknown_status_and_a_missing_target(output: Path, tmp_path: Path) -> None:
    bad = invoke("show", str(output), "--status", "broken")
    assert bad.exit_code == 2 and "use one of succeeded, failed, skipped, unknown" in bad.output

    for target in ("nope.yaml", str(tmp_path / "nope")):
        missing = invoke("show", target)
        assert missing.exit_code == 2, missing.output
        assert "no results" not in missing.output and "error:" in missing.output
