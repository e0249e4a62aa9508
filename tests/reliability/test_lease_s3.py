"""The output lease on object storage: the same atomic create and compare-and-swap, refused by a real
S3 API server (moto) with 412 Precondition Failed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.errors import LeaseHeld, LeaseLost
from tasks.pipeline.lease import LeaseRecord, OutputLease
from tasks.storage.conditional import conditional_object
from tasks.storage.fs import Storage
from tasks.storage.layout import LEASE_PATH
from tests.helpers import local_config, make_catalog, write_config

BUCKET = "retouch-lease"


class WallClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
    }
    boto3.client(
        "s3", aws_access_key_id="testing", aws_secret_access_key="testing", **options["client_kwargs"]
    ).create_bucket(Bucket=BUCKET)
    try:
        yield options
    finally:
        server.stop()


def _storage(s3_options: dict[str, Any], prefix: str) -> Storage:
    return Storage(f"s3://{BUCKET}/{prefix}", s3_options)


def test_create_if_absent_and_replace_if_unchanged_are_refused_by_the_store(s3_options: dict[str, Any]) -> None:
    target = conditional_object(_storage(s3_options, "primitives"), LEASE_PATH)
    assert target.atomic
    first = target.create(b"first")
    assert first is not None and target.create(b"second") is None  # If-None-Match: * -> 412
    current = target.read()
    assert current is not None and current.data == b"first" and current.version == first
    newer = target.replace(b"newer", first)
    assert newer is not None and newer != first
    assert target.replace(b"stale writer", first) is None  # If-Match on an old ETag -> 412
    assert target.delete(first) is False and target.delete(newer) is True
    assert target.read() is None


def test_a_second_run_is_refused_and_an_expired_lease_is_taken_over_once(s3_options: dict[str, Any]) -> None:
    clock = WallClock()
    storage = _storage(s3_options, "takeover")
    crashed = OutputLease(storage, "run-crashed", ttl=60, now=clock)
    crashed.acquire()
    with pytest.raises(LeaseHeld, match="in use by run run-crashed"):
        OutputLease(storage, "run-early", now=clock).acquire()
    clock.now += 120  # the holder died: no heartbeat for two minutes
    contenders = [OutputLease(storage, f"run-{i}", now=clock) for i in range(6)]
    outcomes: list[str] = []
    start = threading.Barrier(len(contenders))

    def contend(lease: OutputLease) -> None:
        start.wait()
        try:
            lease.acquire()
            outcomes.append("won")
        except LeaseHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 5 + ["won"]
    with pytest.raises(LeaseLost):
        crashed.renew()  # the crashed run, were it to wake up, learns it must stop
    record = LeaseRecord.from_bytes(storage.read_bytes(LEASE_PATH))
    winner = next(lease for lease in contenders if lease.held is not None)
    assert record is not None and record.holder == winner.run_id
    winner.release()
    assert not storage.exists(LEASE_PATH)


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_on_an_s3_output_holds_and_releases_the_lease(s3_options: dict[str, Any], tmp_path: Any) -> None:
    catalog = make_catalog(tmp_path, rows=2, prompts=["grayscale"])
    raw = local_config(catalog, tmp_path / "unused")
    raw["output"] = {"uri": f"s3://{BUCKET}/run-output", "storage_options": s3_options}
    config = write_config(tmp_path, raw)
    storage = _storage(s3_options, "run-output")
    other = OutputLease(storage, "run-other")
    other.acquire()
    with pytest.raises(LeaseHeld, match="in use by run run-other"):
        edit_catalog(str(config))
    assert storage.list("results") == []  # refused before anything was written
    other.release()
    assert edit_catalog(str(config)).counts == {"succeeded": 6}
    assert not storage.exists(LEASE_PATH)
