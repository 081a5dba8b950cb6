"""``ObjectStore.open_range``: byte ranges from the local store (a seek) and from S3 (a ranged
GetObject against a real ``moto.server``), checked against the bytes that were written."""

from __future__ import annotations

import random
import tracemalloc
import uuid
from pathlib import Path

import pytest

from pegasus.errors import ObjectMissingError
from pegasus.storage.base import ObjectStore
from pegasus.storage.local import LocalObjectStore
from pegasus.storage.s3 import S3ObjectStore

MIB = 1024 * 1024
KEY = "courses/c1/lectures/l1/source"
DATA = random.Random(7).randbytes(3 * MIB + 12_345)  # larger than one read chunk


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    built: ObjectStore
    if request.param == "local":
        built = LocalObjectStore(tmp_path / "objects")
    else:
        built = S3ObjectStore(
            f"pegasus-{uuid.uuid4().hex[:12]}",
            endpoint_url=request.getfixturevalue("s3_endpoint"),
            access_key_id="testing",
            secret_access_key="testing-secret",
            create_bucket=True,
        )
    built.check()
    built.put_bytes(KEY, DATA, content_type="audio/mp4")
    return built


def _read(store: ObjectStore, start: int, length: int | None, chunk: int = 64 * 1024) -> bytes:
    parts = []
    with store.open_range(KEY, start, length) as source:
        while piece := source.read(chunk):
            parts.append(piece)
    return b"".join(parts)


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, 100),  # the first bytes
        (1_000_000, 1_234_567),  # a middle slice spanning read chunks
        (len(DATA) - 500, None),  # a suffix, to the end
        (0, None),  # everything
        (len(DATA) - 1, 1),  # the last byte
        (17, 0),  # nothing
    ],
)
def test_open_range_returns_exactly_the_requested_bytes(
    store: ObjectStore, start: int, length: int | None
) -> None:
    end = len(DATA) if length is None else start + length
    assert _read(store, start, length) == DATA[start:end]


def test_a_range_past_the_end_is_cut_at_the_end(store: ObjectStore) -> None:
    assert _read(store, len(DATA) - 10, 1000) == DATA[-10:]
    assert _read(store, len(DATA), 10) == b""
    assert _read(store, len(DATA) + 5, None) == b""


def test_read_sizes_do_not_change_the_bytes(store: ObjectStore) -> None:
    assert _read(store, 3, 200_001, chunk=7) == DATA[3:200_004]
    with store.open_range(KEY, 10, 20) as source:
        assert source.read() == DATA[10:30]
        assert source.read() == b""


def test_a_missing_key_raises_object_missing(store: ObjectStore) -> None:
    for start, length in ((0, 10), (5, None), (0, 0)):
        with pytest.raises(ObjectMissingError):
            store.open_range("courses/c1/lectures/l1/nothing", start, length)


def test_negative_ranges_are_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        store.open_range(KEY, -1, 10)
    with pytest.raises(ValueError, match="invalid byte range"):
        store.open_range(KEY, 0, -5)


def test_a_ranged_read_holds_one_chunk_not_the_range(store: ObjectStore) -> None:
    tracemalloc.start()
    try:
        total = 0
        with store.open_range(KEY, 0, None) as source:
            while piece := source.read(64 * 1024):
                total += len(piece)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(DATA)
    # A chunked read buffers about one chunk (1 MiB read buffer); the object is 3 MiB+.
    assert peak < 2.5 * MIB, peak
