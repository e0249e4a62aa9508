"""The in-memory CDN store: expiry and the memory cap, without HTTP."""

from __future__ import annotations

from tasks.sandbox.files import FileStore


def test_files_expire_and_the_oldest_go_past_the_memory_cap() -> None:
    now = [0.0]
    store = FileStore(lambda: now[0], max_bytes=10)
    first = store.put("pixapi", b"123456", "png", ttl=5)
    second = store.put("pixapi", b"abcdef", "jpeg", ttl=5)

    assert first.endswith(".png") and second.endswith(".jpg")
    assert store.get("pixapi", first) is None  # dropped: 12 bytes > 10
    assert store.find("pixapi", second.removesuffix(".jpg")) is not None
    now[0] = 5.0
    assert store.get("pixapi", second) is None
