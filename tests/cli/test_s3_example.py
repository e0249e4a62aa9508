"""configs/s3-example.yaml as the README gives it, run through the CLI against a real S3 API server (moto)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.kit import invoke

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_the_s3_example_config_runs_as_the_readme_says(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import s3fs

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "RETOUCH_BUCKET": "retouch-example",
        "S3_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint)
    fs.mkdir("retouch-example")
    fs.put(str(ROOT / "data" / "demo"), "retouch-example/demo", recursive=True)  # `aws s3 cp --recursive`
    config = str(ROOT / "configs" / "s3-example.yaml")

    ran = invoke("run", config, "--limit", "3")

    assert ran.exit_code == 0, ran.output
    assert "3 (3 new, 0 changed, 0 retried, 0 forced)" in ran.output and "succeeded" in ran.output
    assert len(fs.glob("retouch-example/out/demo/images/mono/*/*.jpg")) == 3
    shown = invoke("show", config, "--rows", "1")
    assert shown.exit_code == 0 and "s3://retouch-example/out/demo/images/mono/" in shown.output
    assert "testing" not in ran.output + shown.output  # the credentials are never printed
