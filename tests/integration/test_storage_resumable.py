"""The stores' resumable writes (tus uploads), on a local directory and on S3 (moto)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from pegasus.storage.base import ObjectStore
from pegasus.storage.local import LocalObjectStore
from pegasus.storage.s3 import S3ObjectStore

MIB = 1024 * 1024
KEY = "courses/c1/lectures/l1/source"
STAGING = "uploads/u1/"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    built = S3ObjectStore(
        f"pegasus-{uuid.uuid4().hex[:12]}",
        endpoint_url=request.getfixturevalue("s3_endpoint"),
        access_key_id="testing",
        secret_access_key="testing",
        create_bucket=True,
        part_size=5 * MIB,  # the smallest S3 allows, so tests cross part boundaries cheaply
    )
    built.check()
    return built


def append(store: ObjectStore, state: dict[str, object], *chunks: bytes) -> dict[str, object]:
    writer = store.append_resumable(state)
    for chunk in chunks:
        writer.write(chunk)
    new = writer.finish()
    store.release_resumable(state, new)
    return new


def test_bytes_over_many_appends_complete_to_the_same_object(store: ObjectStore) -> None:
    data = os.urandom(12 * MIB + 12345)  # two whole parts and a tail on S3
    state = store.start_resumable(KEY, STAGING, content_type="audio/mp4")
    offset = 0
    for size in (1000, 3 * MIB, 7, 4 * MIB, 3 * MIB, 2 * MIB + 12345 - 7 - 1000):
        state = append(store, state, data[offset : offset + size])
        offset += size
        assert state["size"] == offset
    assert offset == len(data)
    assert not store.exists(KEY)  # nothing under the key before completion
    stored = store.complete_resumable(state)
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.get_bytes(KEY) == data
    again = store.complete_resumable(state)  # a retried completion finds it done
    assert again.sha256 == stored.sha256
    store.discard_resumable(state)
    assert [o.key for o in store.list_prefix("uploads/")] == []
    assert store.get_bytes(KEY) == data


def test_a_writer_that_never_finished_is_ignored(store: ObjectStore) -> None:
    state = store.start_resumable(KEY, STAGING)
    state = append(store, state, b"a" * 100)
    lost = store.append_resumable(state)
    lost.write(b"X" * (6 * MIB))  # a crashed request: written, never recorded
    lost.abandon()
    state = append(store, state, b"b" * 50)
    assert state["size"] == 150
    store.complete_resumable(state)
    assert store.get_bytes(KEY) == b"a" * 100 + b"b" * 50


def test_an_older_state_stays_usable_until_released(store: ObjectStore) -> None:
    state = store.start_resumable(KEY, STAGING)
    first = append(store, state, b"a" * 10)
    writer = store.append_resumable(first)
    writer.write(b"b" * 10)
    writer.finish()  # recorded nowhere (the database write failed, say)
    second = append(store, first, b"c" * 10)
    store.complete_resumable(second)
    assert store.get_bytes(KEY) == b"a" * 10 + b"c" * 10


def test_discard_before_completion_leaves_nothing(store: ObjectStore) -> None:
    state = store.start_resumable(KEY, STAGING)
    state = append(store, state, os.urandom(6 * MIB))
    store.discard_resumable(state)
    assert [o.key for o in store.list_prefix("uploads/")] == []
    assert not store.exists(KEY)
    if isinstance(store, S3ObjectStore):
        uploads = store._client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []


def test_release_keeps_one_tail_object(store: ObjectStore) -> None:
    state = store.start_resumable(KEY, STAGING)
    for _ in range(5):
        state = append(store, state, b"x" * 1000)
    staged = [o.key for o in store.list_prefix(STAGING)]
    assert len(staged) == 1  # local: the data file; S3: the current tail only
