"""Where a backup set lives: a directory, or a prefix in an S3 bucket, read and written
through the same ObjectStore the application uses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pegasus.backup.errors import BackupLocationError
from pegasus.config import StorageSettings
from pegasus.storage.base import CHUNK_SIZE, ObjectStore, StoredObject
from pegasus.storage.factory import build_object_store

S3_SCHEME = "s3://"


def split_s3(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as ``("bucket", "some/prefix")`` (no slashes around)."""
    bucket, _, prefix = location.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        raise BackupLocationError(f"{location!r} names no bucket: write s3://bucket/prefix.")
    return bucket, prefix.strip("/")


def s3_store_settings(bucket: str, s3: StorageSettings | None) -> StorageSettings:
    """Settings of an S3 store on ``bucket``, reached as ``s3`` says (endpoint, region,
    credentials); None: boto3's defaults."""
    base = s3 or StorageSettings()
    return base.model_copy(update={"backend": "s3", "s3_bucket": bucket})


def storage_target(target: str, s3: StorageSettings | None) -> StorageSettings:
    """The StorageSettings of a store given as a directory or ``s3://bucket``."""
    if target.startswith(S3_SCHEME):
        bucket, prefix = split_s3(target)
        if prefix:
            raise BackupLocationError(
                f"{target!r}: Pegasus keeps its objects at the top of a bucket; "
                "give s3://bucket without a path."
            )
        return s3_store_settings(bucket, s3)
    return (s3 or StorageSettings()).model_copy(update={"backend": "local", "root": Path(target)})


def describe_store(settings: StorageSettings) -> str:
    """A store as a person names it: its directory or ``s3://bucket``."""
    if settings.backend == "s3":
        return f"{S3_SCHEME}{settings.s3_bucket}"
    return str(settings.root.absolute())


@dataclass(frozen=True)
class SetLocation:
    """The files of one backup set: keys ``prefix + name`` in ``store``."""

    store: ObjectStore
    prefix: str
    url: str  # how a person names it: a directory path or s3://bucket/prefix/name

    @classmethod
    def new(cls, destination: str, name: str, s3: StorageSettings | None) -> SetLocation:
        """The location of a new set ``name`` under ``destination``."""
        if destination.startswith(S3_SCHEME):
            bucket, prefix = split_s3(destination)
            prefix = f"{prefix}/{name}" if prefix else name
            store = build_object_store(s3_store_settings(bucket, s3))
            store.check()  # reachable and writable (the bucket is made when allowed)
            if next(iter(store.list_prefix(f"{prefix}/")), None) is not None:
                raise BackupLocationError(f"s3://{bucket}/{prefix} already holds a set.")
            return cls(store, f"{prefix}/", f"{S3_SCHEME}{bucket}/{prefix}")
        root = Path(destination).absolute() / name
        if root.exists():
            raise BackupLocationError(f"{root} already exists; a new set needs a new folder.")
        store = build_object_store(StorageSettings(backend="local", root=root))
        store.check()
        return cls(store, "", str(root))

    @classmethod
    def existing(cls, location: str, s3: StorageSettings | None) -> SetLocation:
        """The set at ``location`` (a directory or ``s3://bucket/prefix/name``)."""
        if location.startswith(S3_SCHEME):
            bucket, prefix = split_s3(location)
            store = build_object_store(s3_store_settings(bucket, s3))
            return cls(store, f"{prefix}/" if prefix else "", f"{S3_SCHEME}{bucket}/{prefix}")
        root = Path(location).absolute()
        if not root.is_dir():
            raise BackupLocationError(f"{root} is not a directory holding a backup set.")
        return cls(build_object_store(StorageSettings(backend="local", root=root)), "", str(root))

    @property
    def local_root(self) -> Path | None:
        """The set's directory when it is on this machine."""
        root = getattr(self.store, "root", None)
        return root if isinstance(root, Path) and not self.url.startswith(S3_SCHEME) else None

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def put_stream(self, name: str, source: BinaryIO | Iterable[bytes]) -> StoredObject:
        return self.store.put_stream(self.key(name), source)

    def put_json(self, name: str, data: Any) -> StoredObject:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        return self.store.put_bytes(self.key(name), text.encode(), content_type="application/json")

    def exists(self, name: str) -> bool:
        return self.store.exists(self.key(name))

    def open_read(self, name: str) -> BinaryIO:
        return self.store.open_read(self.key(name))

    def get_json(self, name: str) -> Any:
        return json.loads(self.store.get_bytes(self.key(name)))

    def iter_lines(self, name: str) -> Iterator[dict[str, Any]]:
        """The JSON lines of ``name``, read in a stream."""
        with self.open_read(name) as source:
            for line in source:
                if line.strip():
                    yield json.loads(line)

    def list(self, name_prefix: str) -> Iterator[StoredObject]:
        """The set's files under ``name_prefix``, keys relative to the set."""
        for stored in self.store.list_prefix(self.key(name_prefix)):
            yield StoredObject(stored.key.removeprefix(self.prefix), stored.size_bytes)

    def hash_file(self, name: str) -> tuple[int, str]:
        """Size and SHA-256 of ``name``, read in a stream."""
        return hash_stream(self.open_read(name))

    def download(self, name: str, path: Path) -> tuple[int, str]:
        """Copy ``name`` into ``path``; return its size and SHA-256."""
        digest = hashlib.sha256()
        size = 0
        with self.open_read(name) as source, path.open("wb") as out:
            while chunk := source.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return size, digest.hexdigest()


def hash_stream(source: BinaryIO) -> tuple[int, str]:
    """Size and SHA-256 of everything ``source`` yields; closes it."""
    digest = hashlib.sha256()
    size = 0
    with source:
        while chunk := source.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
