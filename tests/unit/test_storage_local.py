"""What only the local store does: files on disk, temp files, directories, OS errors.

The shared ObjectStore contract runs against this store in
``tests/integration/test_storage_s3.py``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from pegasus.config import StorageSettings
from pegasus.errors import (
    InvalidRequestError,
    MediaTooLargeError,
    ObjectMissingError,
    StorageUnavailableError,
)
from pegasus.storage.base import ObjectStore, StoredObject, iter_chunks
from pegasus.storage.factory import build_object_store
from pegasus.storage.local import LocalObjectStore, is_temp_name

MIB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    built = LocalObjectStore(tmp_path / "objects")
    built.check()
    return built


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _dirs(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


def test_it_satisfies_the_protocol(store: LocalObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_an_object_is_a_file_under_the_root(store: LocalObjectStore) -> None:
    store.put_bytes("courses/c1/lectures/l1/source", b"audio")

    assert (store.root / "courses/c1/lectures/l1/source").read_bytes() == b"audio"
    assert _files(store.root) == ["courses/c1/lectures/l1/source"]


def test_file_objects_are_read_in_one_mib_chunks() -> None:
    class Recording(io.BytesIO):
        sizes: list[int]

        def read(self, size: int | None = -1, /) -> bytes:
            self.sizes.append(-1 if size is None else size)
            return super().read(size)

    source = Recording(b"x" * (2 * MIB + 1))
    source.sizes = []

    chunks = list(iter_chunks(source))

    assert [len(c) for c in chunks] == [MIB, MIB, 1]
    assert source.sizes == [MIB] * 4


def test_iterables_keep_their_chunks_and_skip_empty_ones() -> None:
    assert list(iter_chunks([b"ab", b"", b"c"])) == [b"ab", b"c"]


def test_a_write_in_progress_is_a_temp_file_nobody_lists(store: LocalObjectStore) -> None:
    seen: list[str] = []

    def source() -> Iterator[bytes]:
        yield b"first"
        seen.extend(_files(store.root))
        assert list(store.list_prefix("")) == [StoredObject("k/obj", 3)]
        assert store.get_bytes("k/obj") == b"old"
        yield b"second"

    store.put_bytes("k/obj", b"old")
    store.put_stream("k/obj", source())

    assert len(seen) == 2
    assert seen[0] == "k/obj"
    assert is_temp_name(seen[1])
    assert seen[1].startswith("k/obj.part-")
    assert _files(store.root) == ["k/obj"]
    assert store.get_bytes("k/obj") == b"firstsecond"


def test_a_refused_write_leaves_no_temp_file(store: LocalObjectStore) -> None:
    with pytest.raises(MediaTooLargeError) as caught:
        store.put_stream("k/obj", [b"x" * MIB] * 3, max_bytes=2 * MIB)

    assert caught.value.context == {"key": "k/obj", "max_bytes": 2 * MIB}
    assert _files(store.root) == []


def test_temp_names_are_refused_as_keys(store: LocalObjectStore) -> None:
    with pytest.raises(InvalidRequestError):
        store.put_bytes("k/obj.part-" + "0" * 32, b"x")

    assert store.put_bytes("k/obj.part-1", b"x").key == "k/obj.part-1"
    assert not is_temp_name("obj.part-1")


def test_a_key_cannot_be_both_an_object_and_a_prefix(store: LocalObjectStore) -> None:
    store.put_bytes("k/obj", b"object")
    store.put_bytes("k/dir/child", b"child")

    with pytest.raises(InvalidRequestError):
        store.put_bytes("k/obj/child", b"x")
    with pytest.raises(InvalidRequestError):
        store.put_bytes("k/dir", b"x")

    assert store.get_bytes("k/obj") == b"object"
    assert store.get_bytes("k/dir/child") == b"child"
    with pytest.raises(ObjectMissingError):
        store.open_read("k/dir")
    assert not store.exists("k/dir")
    assert _files(store.root) == ["k/dir/child", "k/obj"]


def test_delete_prefix_removes_the_directories_it_emptied(store: LocalObjectStore) -> None:
    store.put_bytes("courses/a/lectures/1/exports/kit.zip", b"x")
    store.put_bytes("courses/a/lectures/1/source", b"x")
    store.put_bytes("courses/a/lectures/2/source", b"x")

    assert store.delete_prefix("courses/a/lectures/1/") == 2

    assert _dirs(store.root) == [
        "courses",
        "courses/a",
        "courses/a/lectures",
        "courses/a/lectures/2",
    ]
    assert store.delete_prefix("courses/") == 1
    assert _dirs(store.root) == []
    assert store.root.is_dir()


def test_listing_a_missing_directory_is_empty(store: LocalObjectStore) -> None:
    assert list(store.list_prefix("courses/none/")) == []
    assert store.delete_prefix("courses/none/") == 0


def test_check_creates_the_root(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"

    LocalObjectStore(root).check()

    assert root.is_dir()
    assert list(root.iterdir()) == []


def test_a_root_that_is_a_file_is_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    root.write_bytes(b"not a directory")
    store = LocalObjectStore(root)

    with pytest.raises(StorageUnavailableError) as caught:
        store.check()
    with pytest.raises(StorageUnavailableError) as caught_put:
        store.put_bytes("k/obj", b"x")

    assert caught.value.transient is True
    assert caught.value.context["path"] == str(root)
    assert str(tmp_path) not in caught.value.message
    assert caught_put.value.code == "storage.unavailable"
    assert root.read_bytes() == b"not a directory"


def test_a_read_error_is_unavailable_not_missing(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_bytes("k/obj", b"x")

    def failing_open(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", failing_open)

    with pytest.raises(StorageUnavailableError) as caught:
        store.open_read("k/obj")

    assert caught.value.context["key"] == "k/obj"
    assert caught.value.context["path"] == str(store.root / "k" / "obj")
    assert "Permission" not in caught.value.message


def test_download_to_leaves_the_target_alone_when_the_key_is_missing(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep me")

    with pytest.raises(ObjectMissingError):
        store.download_to("k/absent", target)

    assert target.read_bytes() == b"keep me"


def test_put_file_streams_a_large_file(store: LocalObjectStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * (12 * MIB // 256)
    source = tmp_path / "big.bin"
    source.write_bytes(data)

    stored = store.put_file("k/big", source)

    assert stored == StoredObject("k/big", len(data), hashlib.sha256(data).hexdigest())
    assert (store.root / "k" / "big").read_bytes() == data


def test_factory_builds_a_local_store_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    built = build_object_store(StorageSettings(backend="local", root=Path("var/objects")))

    assert isinstance(built, LocalObjectStore)
    assert built.root == tmp_path / "var" / "objects"
    monkeypatch.chdir("/")
    built.put_bytes("k", b"x")
    assert (tmp_path / "var" / "objects" / "k").read_bytes() == b"x"
