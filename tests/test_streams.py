"""One planning pass, one stream of shards per provider: plan order kept, memory bounded, the backlog on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.core.config import parse_config
from tasks.core.models import EditJob
from tasks.pipeline.shards import Planner, shards_of
from tasks.pipeline.streams import ShardStreams
from tasks.storage.results import PriorWork
from tests.helpers import local_config, make_catalog

PROVIDERS = ("local", "pixapi.edits")
EDITS = [
    {"name": "as_written", "provider": "local", "seeds": [1, 2]},
    {"name": "gemini", "provider": "pixapi.edits", "model": "gemini-2.5-flash-image", "seeds": [1]},
]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> list[EditJob]:
    """12 rows × (2 local seeds + 1 pixapi seed), planned from a real catalog: the providers interleave."""
    directory = tmp_path_factory.mktemp("streams")
    config = parse_config(local_config(make_catalog(directory, rows=12), directory / "out", EDITS))
    return list(Planner(config, PriorWork(set(), {})).jobs())


def of(jobs: list[EditJob], provider: str) -> list[EditJob]:
    return [job for job in jobs if job.provider == provider]


def drain(streams: ShardStreams, provider: str) -> list[list[EditJob]]:
    return list(iter(lambda: streams.next_shard(provider), None))


def test_a_stream_that_runs_ahead_leaves_the_others_shards_on_disk(jobs: list[EditJob], tmp_path: Path) -> None:
    with ShardStreams(jobs, PROVIDERS, shard_size=2, hold=1, spool_dir=tmp_path) as streams:
        assert streams.waiting("pixapi.edits") == (0, 0)  # nothing is planned before it is asked for
        assert drain(streams, "local") == list(shards_of(of(jobs, "local"), 2))
        assert streams.ended
        assert streams.waiting("pixapi.edits") == (1, 5)  # 12 jobs in shards of 2: one in memory, five spooled
        assert sum(path.stat().st_size for path in tmp_path.rglob("*.spool")) > 0
        assert drain(streams, "pixapi.edits") == list(shards_of(of(jobs, "pixapi.edits"), 2))
        assert streams.waiting("pixapi.edits") == (0, 0)
    assert list(tmp_path.iterdir()) == []  # the spool is gone with the streams


@settings(max_examples=60, deadline=None)
@given(
    asks=st.lists(st.sampled_from(PROVIDERS), max_size=40),
    hold=st.integers(min_value=1, max_value=3),
    size=st.integers(min_value=1, max_value=5),
)
def test_any_order_of_asking_keeps_each_stream_whole_and_in_plan_order(
    jobs: list[EditJob], asks: list[str], hold: int, size: int
) -> None:
    taken: dict[str, list[list[EditJob]]] = {name: [] for name in PROVIDERS}
    with ShardStreams(jobs, PROVIDERS, shard_size=size, hold=hold) as streams:
        for provider in asks:
            shard = streams.next_shard(provider)
            taken[provider] += [shard] if shard is not None else []
            assert all(streams.waiting(name)[0] <= hold for name in PROVIDERS)  # memory stays bounded
        for provider in PROVIDERS:
            taken[provider] += drain(streams, provider)
    for provider in PROVIDERS:
        assert taken[provider] == list(shards_of(of(jobs, provider), size))
