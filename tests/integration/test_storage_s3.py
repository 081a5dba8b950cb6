"""The ObjectStore contract, run against the local store and against S3 (moto, as a server).

Every ``store`` test runs twice: once on a LocalObjectStore under a temp directory and once on
an S3ObjectStore talking to a real ``moto.server`` process, each on a fresh bucket.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client
from pydantic import SecretStr

from pegasus.config import StorageSettings
from pegasus.errors import (
    InvalidRequestError,
    MediaTooLargeError,
    ObjectMissingError,
    StorageUnavailableError,
)
from pegasus.storage.base import ObjectStore, StoredObject
from pegasus.storage.factory import build_object_store
from pegasus.storage.local import LocalObjectStore
from pegasus.storage.s3 import S3ObjectStore
from pegasus_testkit.ports import free_port

ACCESS_KEY = "testing"
SECRET_KEY = "testing-secret"
MIB = 1024 * 1024


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint(s3_endpoint: str) -> str:
    """The session's moto server (see tests/conftest.py)."""
    return s3_endpoint


def _s3_store(endpoint: str, bucket: str | None = None, *, create: bool = True) -> S3ObjectStore:
    return S3ObjectStore(
        bucket or f"pegasus-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        create_bucket=create,
    )


def _admin_client(endpoint: str) -> S3Client:
    """A client of our own, to look behind the store's back."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    built: ObjectStore
    if request.param == "local":
        built = LocalObjectStore(tmp_path / "objects")
    else:
        built = _s3_store(request.getfixturevalue("moto_endpoint"))
    built.check()
    return built


def _chunks(total: int, seed: int, chunk: int = 777_777) -> Iterator[bytes]:
    """``total`` deterministic pseudo-random bytes in chunks that align with no part size."""
    rng = random.Random(seed)
    left = total
    while left:
        size = min(chunk, left)
        yield rng.randbytes(size)
        left -= size


def _sha256(total: int, seed: int) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(total, seed):
        digest.update(chunk)
    return digest.hexdigest()


def _read_sha256(store: ObjectStore, key: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with store.open_read(key) as source:
        while chunk := source.read(MIB):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- the contract --------------------------------------------------------------------------


def test_put_stream_of_20_mib_returns_digest_and_reads_back(store: ObjectStore) -> None:
    total = 20 * MIB + 12_345
    key = "courses/c1/lectures/l1/source"

    stored = store.put_stream(key, _chunks(total, seed=1), content_type="audio/mp4")

    expected = _sha256(total, seed=1)
    assert stored == StoredObject(key=key, size_bytes=total, sha256=expected)
    assert _read_sha256(store, key) == (expected, total)
    assert store.exists(key)
    assert list(store.list_prefix("courses/c1/")) == [StoredObject(key=key, size_bytes=total)]


def test_put_stream_reads_a_binary_file_object(store: ObjectStore) -> None:
    data = b"".join(_chunks(9 * MIB + 1, seed=2))

    stored = store.put_stream("k/file-object", io.BytesIO(data))

    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.get_bytes("k/file-object") == data


def test_put_bytes_put_file_and_download_to_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(b"from a file")
    target = tmp_path / "download.bin"
    target.write_bytes(b"old content that is longer than the new one")

    from_bytes = store.put_bytes("k/bytes", b"small", content_type="text/plain")
    from_file = store.put_file("k/file", source)
    store.download_to("k/file", target)

    assert from_bytes == StoredObject("k/bytes", 5, hashlib.sha256(b"small").hexdigest())
    assert from_file == StoredObject("k/file", 11, hashlib.sha256(b"from a file").hexdigest())
    assert store.get_bytes("k/bytes") == b"small"
    assert target.read_bytes() == b"from a file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "download.bin",
        "upload.bin",
    ]


def test_an_empty_object_is_stored(store: ObjectStore) -> None:
    stored = store.put_stream("k/empty", iter([]))

    assert stored == StoredObject("k/empty", 0, hashlib.sha256(b"").hexdigest())
    assert store.get_bytes("k/empty") == b""
    assert store.exists("k/empty")


def test_a_second_write_replaces_the_first(store: ObjectStore) -> None:
    store.put_bytes("k/obj", b"first version")
    store.put_bytes("k/obj", b"second")

    assert store.get_bytes("k/obj") == b"second"
    assert [o.size_bytes for o in store.list_prefix("k/")] == [6]


def test_max_bytes_exceeded_stores_nothing_for_a_new_key(store: ObjectStore) -> None:
    with pytest.raises(MediaTooLargeError):
        store.put_stream("k/new", _chunks(20 * MIB, seed=3), max_bytes=10 * MIB)

    assert not store.exists("k/new")
    assert list(store.list_prefix("k/")) == []
    with pytest.raises(ObjectMissingError):
        store.get_bytes("k/new")


def test_max_bytes_exceeded_keeps_the_previous_object(store: ObjectStore) -> None:
    store.put_bytes("k/obj", b"previous")

    with pytest.raises(MediaTooLargeError):
        store.put_stream("k/obj", _chunks(20 * MIB, seed=4), max_bytes=10 * MIB)
    with pytest.raises(MediaTooLargeError):
        store.put_stream("k/obj", [b"123456"], max_bytes=5)

    assert store.get_bytes("k/obj") == b"previous"
    assert list(store.list_prefix("k/")) == [StoredObject("k/obj", 8)]


def test_max_bytes_is_inclusive(store: ObjectStore) -> None:
    stored = store.put_stream("k/exact", [b"12", b"345"], max_bytes=5)

    assert stored.size_bytes == 5
    assert store.get_bytes("k/exact") == b"12345"


def test_a_failing_source_keeps_the_previous_object(store: ObjectStore) -> None:
    store.put_bytes("k/obj", b"previous")

    def broken() -> Iterator[bytes]:
        yield from _chunks(17 * MIB, seed=5)  # past two S3 parts
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream("k/obj", broken())

    assert store.get_bytes("k/obj") == b"previous"
    assert list(store.list_prefix("")) == [StoredObject("k/obj", 8)]


def test_a_missing_key_raises_object_missing(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("k/present", b"x")

    with pytest.raises(ObjectMissingError) as caught:
        store.open_read("k/absent")
    with pytest.raises(ObjectMissingError):
        store.get_bytes("k/present/below")
    with pytest.raises(ObjectMissingError):
        store.download_to("k/absent", tmp_path / "out")

    assert caught.value.context["key"] == "k/absent"
    assert caught.value.transient is False
    assert not store.exists("k/absent")
    assert not (tmp_path / "out").exists()


def test_list_prefix_is_in_key_order_and_only_under_the_prefix(store: ObjectStore) -> None:
    keys = [
        "courses/a/lectures/1/source",
        "courses/a/lectures/1/transcript.json",
        "courses/a/lectures/1/exports/kit.zip",
        "courses/a/lectures/1/exports.txt",  # '.' sorts before '/'
        "courses/a/lectures/10/source",
        "courses/a/lectures/2/source",
        "courses/b/lectures/1/source",
    ]
    for index, key in enumerate(random.Random(6).sample(keys, len(keys))):
        store.put_bytes(key, b"x" * (index + 1))
    sizes = {o.key: o.size_bytes for o in store.list_prefix("")}

    listed = list(store.list_prefix("courses/a/lectures/1/"))

    assert [o.key for o in listed] == [
        "courses/a/lectures/1/exports.txt",
        "courses/a/lectures/1/exports/kit.zip",
        "courses/a/lectures/1/source",
        "courses/a/lectures/1/transcript.json",
    ]
    assert all(o.size_bytes == sizes[o.key] and o.sha256 is None for o in listed)
    assert [o.key for o in store.list_prefix("")] == sorted(keys)
    assert [o.key for o in store.list_prefix("courses/a/lectures/1")] == sorted(keys[:5])
    assert list(store.list_prefix("courses/c/")) == []


def test_delete_prefix_removes_exactly_the_prefix(store: ObjectStore) -> None:
    doomed = [
        "courses/a/lectures/1/source",
        "courses/a/lectures/1/exports/kit.zip",
        "courses/a/lectures/1/exports/deck.apkg",
    ]
    kept = ["courses/a/lectures/10/source", "courses/a/lectures/2/source", "courses/a/cover"]
    for key in doomed + kept:
        store.put_bytes(key, key.encode())

    assert store.delete_prefix("courses/a/lectures/1/") == 3

    assert [o.key for o in store.list_prefix("")] == sorted(kept)
    assert all(store.get_bytes(key) == key.encode() for key in kept)
    assert not any(store.exists(key) for key in doomed)
    assert store.delete_prefix("courses/a/lectures/1/") == 0
    store.put_bytes("courses/a/lectures/1/source", b"again")  # the prefix is usable again
    assert store.get_bytes("courses/a/lectures/1/source") == b"again"


def test_delete_prefix_handles_more_than_one_batch(store: ObjectStore) -> None:
    for index in range(1005):  # S3 deletes at most 1000 keys per request
        store.put_bytes(f"many/{index:04d}", b"")
    store.put_bytes("other/keep", b"kept")

    assert store.delete_prefix("many/") == 1005

    assert list(store.list_prefix("")) == [StoredObject("other/keep", 4)]


@pytest.mark.parametrize(
    "key", ["", "/abs", "../escape", "a/../b", "a/./b", "a//b", "a\\b", "nul\x00", "dir/"]
)
def test_unsafe_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidRequestError):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidRequestError):
        store.put_stream(key, [b"x"])
    with pytest.raises(InvalidRequestError):
        store.open_read(key)
    with pytest.raises(InvalidRequestError):
        store.exists(key)

    assert list(store.list_prefix("")) == []


def test_unsafe_prefixes_are_refused(store: ObjectStore) -> None:
    store.put_bytes("k/obj", b"x")

    with pytest.raises(InvalidRequestError):
        store.list_prefix("../")
    with pytest.raises(InvalidRequestError):
        store.delete_prefix("/k/")
    with pytest.raises(InvalidRequestError):
        store.delete_prefix("")  # refusing to delete everything

    assert store.exists("k/obj")


def test_check_passes_and_leaves_no_trace(store: ObjectStore) -> None:
    store.check()
    store.check()

    assert list(store.list_prefix("")) == []


# --- S3 only -------------------------------------------------------------------------------


def test_s3_uses_multipart_above_one_part_and_a_single_put_below(moto_endpoint: str) -> None:
    store = _s3_store(moto_endpoint)
    store.check()
    admin = _admin_client(moto_endpoint)

    store.put_stream("big", _chunks(20 * MIB, seed=7))
    store.put_stream("small", _chunks(8 * MIB - 1, seed=8))

    assert admin.head_object(Bucket=store.bucket, Key="big")["ETag"].endswith('-3"')
    assert "-" not in admin.head_object(Bucket=store.bucket, Key="small")["ETag"]
    assert admin.get_object(Bucket=store.bucket, Key="big")["ContentLength"] == 20 * MIB


def test_s3_aborts_the_multipart_upload_on_failure(moto_endpoint: str) -> None:
    store = _s3_store(moto_endpoint)
    store.check()
    admin = _admin_client(moto_endpoint)

    with pytest.raises(MediaTooLargeError):
        store.put_stream("big", _chunks(30 * MIB, seed=9), max_bytes=20 * MIB)

    assert admin.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert admin.list_objects_v2(Bucket=store.bucket).get("KeyCount") == 0


def test_s3_check_creates_the_bucket_only_when_allowed(moto_endpoint: str) -> None:
    bucket = f"pegasus-{uuid.uuid4().hex[:12]}"
    refusing = _s3_store(moto_endpoint, bucket, create=False)

    with pytest.raises(StorageUnavailableError) as caught:
        refusing.check()
    with pytest.raises(StorageUnavailableError) as caught_put:
        refusing.put_bytes("k", b"x")

    assert "bucket does not exist" in caught.value.message
    assert "bucket does not exist" in caught_put.value.message
    assert caught.value.transient is True
    _s3_store(moto_endpoint, bucket, create=True).check()
    refusing.check()
    assert refusing.put_bytes("k", b"x").size_bytes == 1


def test_s3_unreachable_endpoint_is_storage_unavailable() -> None:
    store = _s3_store(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(StorageUnavailableError) as caught:
        store.check()
    with pytest.raises(StorageUnavailableError):
        store.put_bytes("k", b"x")
    with pytest.raises(StorageUnavailableError):
        store.open_read("k")
    with pytest.raises(StorageUnavailableError):
        list(store.list_prefix(""))

    assert caught.value.code == "storage.unavailable"
    assert "127.0.0.1" not in caught.value.message


def test_s3_reads_objects_other_clients_wrote(moto_endpoint: str) -> None:
    store = _s3_store(moto_endpoint)
    store.check()
    admin = _admin_client(moto_endpoint)
    admin.put_object(Bucket=store.bucket, Key="k", Body=b"x")

    assert store.get_bytes("k") == b"x"


def test_factory_builds_the_s3_store_from_settings(moto_endpoint: str) -> None:
    bucket = f"pegasus-{uuid.uuid4().hex[:12]}"
    settings = StorageSettings(
        backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=moto_endpoint,
        s3_access_key_id=SecretStr(ACCESS_KEY),
        s3_secret_access_key=SecretStr(SECRET_KEY),
        s3_create_bucket=True,
    )

    built = build_object_store(settings)
    built.check()
    built.put_bytes("k", b"via settings")

    assert isinstance(built, S3ObjectStore)
    assert built.bucket == bucket
    body = _admin_client(moto_endpoint).get_object(Bucket=bucket, Key="k")["Body"].read()
    assert body == b"via settings"
