"""Export from object storage to object storage: a run on a real S3 API server (moto), exported there too."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from flows.edit_catalog import edit_catalog
from tasks.core.config import load_config
from tasks.exports import ExportOptions, export_results
from tasks.storage.fs import Storage
from tests.helpers import make_png, write_config


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
        }
    finally:
        server.stop()


@pytest.mark.usefixtures("prefect_harness")
def test_s3_results_exported_to_s3(s3_options: dict, tmp_path: Path) -> None:
    import boto3
    import s3fs

    client = boto3.client(
        "s3", aws_access_key_id="testing", aws_secret_access_key="testing", **s3_options["client_kwargs"]
    )
    for bucket in ("x-in", "x-out", "x-exports"):
        client.create_bucket(Bucket=bucket)
    fs = s3fs.S3FileSystem(**s3_options)
    for index in range(3):
        fs.pipe(f"x-in/cat/images/{index}.png", make_png(seed=index))
    frame = pl.DataFrame(
        {"id": ["a", "b", "c"], "image": [f"images/{i}.png" for i in range(3)], "prompt": ["invert"] * 3}
    )
    with fs.open("x-in/cat/catalog.parquet", "wb") as handle:
        frame.write_parquet(handle)
    config_path = write_config(
        tmp_path,
        {
            "catalog": {"uri": "s3://x-in/cat/catalog.parquet", "storage_options": s3_options},
            "edits": [{"name": "neg", "provider": "local", "seeds": [1, 2]}],
            "output": {"uri": "s3://x-out/run", "storage_options": s3_options},
        },
    )
    assert edit_catalog(str(config_path)).counts == {"succeeded": 6}
    config = load_config(config_path)
    output, dest = Storage("s3://x-out/run", s3_options), Storage("s3://x-exports/hf", s3_options)
    summary = export_results(output, dest, config, ExportOptions(format="hf", shard_size=4))
    assert summary.rows == 6 and summary.files == ["data/train-00000.parquet", "data/train-00001.parquet"]
    assert not [name for name in fs.find("x-exports/hf") if ".tmp" in name]  # temporaries were moved into place
    table = pq.read_table(io.BytesIO(fs.cat("x-exports/hf/data/train-00000.parquet")))
    assert b"huggingface" in table.schema.metadata
    sources = [row["original_image"]["bytes"] for row in table.to_pylist()]
    assert all(
        data == fs.cat(f"x-in/cat/images/{'abc'.index(row_id)}.png")
        for data, row_id in zip(sources, table["row_id"].to_pylist(), strict=True)
    )
    assert fs.cat("x-exports/hf/README.md").startswith(b"---\n")
