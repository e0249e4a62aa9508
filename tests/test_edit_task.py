"""The shard task: never retried, since a retry would re-send jobs the provider already billed."""

from __future__ import annotations

from tasks.edit import edit_shard


def test_the_shard_task_is_never_retried() -> None:
    # Storage faults are retried per write inside the shard; a shard retry would buy its jobs again.
    assert edit_shard.retries == 0 and edit_shard.retry_condition_fn is None
