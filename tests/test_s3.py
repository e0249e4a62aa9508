"""Object storage end to end: catalog, images and results on a real S3 API server (moto)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from flows.edit_catalog import edit_catalog
from tests.helpers import make_png, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict]:
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
    try:
        yield options
    finally:
        server.stop()


def test_s3_catalog_to_s3_output(s3_options: dict, tmp_path: Path) -> None:
    import boto3
    import s3fs

    client = boto3.client(
        "s3", aws_access_key_id="testing", aws_secret_access_key="testing", **s3_options["client_kwargs"]
    )
    for bucket in ("retouch-in", "retouch-out"):
        client.create_bucket(Bucket=bucket)
    fs = s3fs.S3FileSystem(**s3_options)
    for index in range(3):
        fs.pipe(f"retouch-in/cat/images/{index}.png", make_png(seed=index))
    frame = pl.DataFrame(
        {"id": ["a", "b", "c"], "image": [f"images/{i}.png" for i in range(3)], "prompt": ["invert"] * 3}
    )
    with fs.open("retouch-in/cat/catalog.parquet", "wb") as handle:
        frame.write_parquet(handle)
    config = {
        "catalog": {"uri": "s3://retouch-in/cat/catalog.parquet", "storage_options": s3_options},
        "edits": [{"name": "neg", "provider": "local", "seeds": [1]}],
        "output": {"uri": "s3://retouch-out/run", "storage_options": s3_options},
    }
    path = write_config(tmp_path, config)
    summary = edit_catalog(str(path))
    assert summary.counts == {"succeeded": 3}
    parts = fs.glob("retouch-out/run/results/*.parquet")
    assert len(parts) >= 1
    with fs.open(parts[0], "rb") as handle:
        table = pl.read_parquet(handle)
    assert table["output_uri"].str.starts_with("s3://retouch-out/run/images/neg/").all()
    assert all(fs.cat(uri).startswith(b"\x89PNG") for uri in table["output_uri"])
    assert edit_catalog(str(path)).already_done == 3
