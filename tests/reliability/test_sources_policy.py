"""The source policy through `load_image`: hostile references are refused, with row and source named, nothing read.

Every reference goes through `image_ref` as the catalog reader builds it (relative paths joined to the
catalog's folder), then `load_image` with a real policy, a real client and the tests' own loopback server.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import httpx
import pytest

from tasks.core.errors import SourceError, SourceRefused
from tasks.core.models import InputImage
from tasks.core.sources_config import SourcesConfig
from tasks.pipeline.catalog import image_ref
from tasks.storage.source_policy import SourcePolicy
from tasks.storage.sources import SourceReader, load_image
from tests.helpers import make_png
from tests.reliability.sources_kit import SECRET, Hostile, bomb_png, hostile_server, truncated_png

MAX_BYTES = 1_000_000
DEADLINE = 1.5  # the dripping server's test; the others get SLACK, so a busy machine cannot fail them
SLACK = 20.0


@dataclass
class World:
    """A catalog folder with good and hostile files beside it, and the hostile server."""

    catalog: Path
    outside: Path
    server: Hostile

    def config(self, *extra: str, deadline: float = SLACK) -> SourcesConfig:
        base = self.server.base
        allow = ["http://", "https://", f"{base}/hop/", f"{base}/media/", "memory://assets/", *extra]
        return SourcesConfig(allow=allow, max_bytes=MAX_BYTES, max_pixels=20_000_000, timeout=deadline)

    def load(self, value: str, *extra: str, deadline: float = SLACK) -> InputImage:
        policy = SourcePolicy(self.config(*extra, deadline=deadline), root=str(self.catalog))
        ref = image_ref(value, str(self.catalog))

        async def go() -> InputImage:
            async with httpx.AsyncClient(timeout=deadline) as http:
                reader = SourceReader(policy, http, deadline=deadline)
                return await load_image(ref, reader, role="image", row_id="R7")

        return asyncio.run(go())


@pytest.fixture(scope="module")
def server() -> Iterator[Hostile]:
    with hostile_server() as running:
        yield running


@pytest.fixture
def world(tmp_path: Path, server: Hostile) -> World:
    catalog, outside = tmp_path / "cat", tmp_path / "outside"
    (catalog / "images").mkdir(parents=True)
    outside.mkdir()
    make_png(catalog / "images" / "good.png")
    make_png(outside / "photo.png")
    (outside / "secret.txt").write_bytes(SECRET)
    (catalog / "images" / "bomb.png").write_bytes(bomb_png())
    (catalog / "images" / "cut.png").write_bytes(truncated_png())
    (catalog / "images" / "link.png").symlink_to(outside / "secret.txt")
    (catalog / "linked").symlink_to(outside)
    os.mkfifo(catalog / "images" / "pipe.png")
    server.hits.clear()
    server.final_hop = "/secret"
    return World(catalog, outside, server)


REFUSED = {
    "proc environ": "/proc/self/environ",
    "etc passwd": "/etc/passwd",
    "file url": "file:///etc/hostname",
    "dot dot": "../../../../../../../../etc/hostname",
    "dot dot through images": "images/../../outside/secret.txt",
    "symlink to a file outside": "images/link.png",
    "symlink to a folder outside": "linked/photo.png",
    "absolute path outside (a real PNG)": "{outside}/photo.png",
    "dev zero": "/dev/zero",
    "sys file": "/sys/kernel/hostname",
    "fifo in the folder": "images/pipe.png",
    "unlisted bucket": "s3://elsewhere/x.png",
    "unlisted memory prefix": "memory://other/x.png",
    "loopback by IP": "{base}/secret",
    "loopback by name": "http://localhost:{port}/secret",
    "loopback as a decimal number": "http://2130706433:{port}/secret",
    "IPv6 loopback": "http://[::1]:{port}/secret",
    "IPv4-mapped IPv6 loopback": "http://[::ffff:127.0.0.1]:{port}/secret",
    "unspecified address": "http://0.0.0.0:{port}/secret",
    "cloud metadata": "http://169.254.169.254/latest/meta-data/iam/",
    "private network": "http://10.0.0.7/image.png",
    "carrier-grade NAT metadata": "http://100.100.100.200/latest/meta-data/",
    "redirected 5 times to the internal service": "{base}/hop/4",
    "too many redirects": "{base}/hop/9",
    "gzip bomb": "{base}/media/bomb",
    "declared 10 GB": "{base}/media/huge",
    "unsupported encoding": "{base}/media/brotli",
    "bomb PNG header (169 MP)": "images/bomb.png",
    "percent-encoded dot dot": "{base}/media/%2e%2e/secret",
    "gopher scheme": "gopher://127.0.0.1:{port}/secret",
}
NOT_IMAGES = {
    "data URI that is text": "data:text/plain;base64," + base64.b64encode(b"root:x:0:0:" + SECRET).decode(),
    "truncated PNG": "images/cut.png",
    "missing file": "images/missing.png",
    "HTTP 404": "{base}/media/nothing.png",
}


def _fill(world: World, template: str) -> str:
    return template.format(base=world.server.base, port=world.server.port, outside=world.outside)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_hostile_reference_is_refused_naming_row_and_source(world: World, case: str) -> None:
    value = _fill(world, REFUSED[case])

    with pytest.raises(SourceRefused) as caught:
        world.load(value)

    message = str(caught.value)
    assert message.startswith("row R7: image ") and caught.value.row_id == "R7"
    assert _fragment(value) in message
    assert SECRET.decode() not in message and "root:" not in message
    assert world.server.hits["/secret"] == 0  # the internal service was never reached


@pytest.mark.parametrize("case", sorted(NOT_IMAGES))
def test_a_reference_that_is_not_a_whole_image_fails_without_showing_its_bytes(world: World, case: str) -> None:
    with pytest.raises(SourceError) as caught:
        world.load(_fill(world, NOT_IMAGES[case]))

    message = str(caught.value)
    assert message.startswith("row R7: image ")
    assert SECRET.decode() not in message and "root:" not in message and "cm9vd" not in message


def test_the_redirect_chain_is_followed_hop_by_hop_and_stopped_at_the_internal_hop(world: World) -> None:
    with pytest.raises(SourceRefused, match="loopback"):
        world.load(f"{world.server.base}/hop/4")
    assert [world.server.hits[f"/hop/{n}"] for n in range(5)] == [1] * 5
    assert world.server.hits["/secret"] == 0


def test_a_redirect_to_a_file_url_is_refused(world: World) -> None:
    world.server.final_hop = "file:///etc/passwd"
    with pytest.raises(SourceRefused, match="scheme 'file'"):
        world.load(f"{world.server.base}/hop/1")


def test_a_dripping_server_is_cut_at_the_total_deadline(world: World) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"within 1\.5s"):
        world.load(f"{world.server.base}/media/drip", deadline=DEADLINE)
    assert time.monotonic() - started < DEADLINE + 2.0  # per-read timeouts alone would allow 30 s


def test_a_gzip_bomb_stops_at_the_byte_cap_counted_after_decompression(world: World) -> None:
    with pytest.raises(SourceRefused, match=f"cap of {MAX_BYTES} bytes"):
        world.load(f"{world.server.base}/media/bomb")


@pytest.mark.parametrize(
    "value",
    ["images/good.png", "{base}/media/image.png", "{outside}/photo.png", "data:image/png;base64,{png}"],
    ids=["in the folder", "on a listed host", "in a listed folder", "data URI"],
)
def test_allowed_references_load_and_are_checked_images(world: World, value: str) -> None:
    filled = value.format(base=world.server.base, outside=world.outside, png=base64.b64encode(make_png()).decode())
    image = world.load(filled, str(world.outside))
    assert image.media_type == "image/png" and image.data is not None and len(image.data) > 50


def test_an_object_store_source_under_a_listed_prefix_is_read(world: World) -> None:
    fsspec.filesystem("memory").pipe("/assets/a.png", make_png())
    image = world.load("memory://assets/a.png")
    assert image.data == make_png()


def test_a_config_cannot_list_what_is_never_read() -> None:
    for entry in ("/proc", "/dev/", "/", "file:///data/", "images/", "https://user:pw@cdn.example.com/"):
        with pytest.raises(ValueError, match="allow entry"):
            SourcesConfig(allow=[entry])


def _fragment(value: str) -> str:
    """A piece of the source every message must show (query strings and data payloads are not shown)."""
    return value.split("?", 1)[0].rsplit("/", 1)[-1] or value.split("://", 1)[0]
