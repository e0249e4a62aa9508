"""Job planning: row × variant × seed, with job keys that depend only on the request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.core.config import parse_config
from tasks.pipeline.catalog import iter_catalog
from tasks.pipeline.plan import plan_jobs
from tests.helpers import local_config, make_catalog


def keys_for(catalog: Path, edits: list[dict] | None = None) -> list[str]:
    config = parse_config(local_config(catalog, catalog.parent / "out", edits))
    return [job.job_key for batch in iter_catalog(config.catalog) for job in plan_jobs(batch, config)]


def test_expands_rows_variants_and_seeds(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=3)
    config = parse_config(local_config(catalog, tmp_path / "out"))
    jobs = [job for batch in iter_catalog(config.catalog) for job in plan_jobs(batch, config)]
    assert len(jobs) == 3 * (2 + 1)
    assert len({job.job_key for job in jobs}) == len(jobs)
    mono = [job for job in jobs if job.variant == "mono"]
    assert {job.prompt for job in mono} == {"grayscale"}
    assert jobs[0].extras == {"title": "item 0"}


def test_keys_are_the_same_in_another_process(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=2)
    here = keys_for(catalog)
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, '.');"
        "from tests.test_plan import keys_for; print(','.join(keys_for(Path(sys.argv[1]))))"
    )
    root = Path(__file__).parents[1]
    there = subprocess.run(
        [sys.executable, "-c", script, str(catalog)], cwd=root, capture_output=True, text=True, check=True
    )
    assert there.stdout.strip().split(",") == here


def test_keys_change_with_the_request_and_only_with_it(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, rows=1)
    base = [{"name": "v", "provider": "local", "prompt": "blur", "seeds": [1]}]
    key = keys_for(catalog, base)
    assert keys_for(catalog, base) == key
    changed = [
        [{**base[0], "prompt": "sepia"}],
        [{**base[0], "seeds": [2]}],
        [{**base[0], "params": {"format": "jpeg"}}],
        [{**base[0], "count": 2}],
        [{**base[0], "name": "w"}],
    ]
    for edits in changed:
        assert keys_for(catalog, edits) != key, edits


def test_public_job_key_matches_the_planner(tmp_path: Path) -> None:
    from tasks.pipeline.plan import job_key

    catalog = make_catalog(tmp_path, rows=1)
    config = parse_config(local_config(catalog, tmp_path / "out"))
    job = next(plan_jobs(next(iter_catalog(config.catalog)), config))
    recomputed = job_key(
        row_id=job.row_id,
        variant=job.variant,
        image=job.image,
        prompt=job.prompt,
        provider=job.provider,
        model=job.model,
        params=job.params,
        seed=job.seed,
        count=job.count,
    )
    assert recomputed == job.job_key
