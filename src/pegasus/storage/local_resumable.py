"""Resumable writes for the local store: one staging file appended to, renamed at the end.

The local store is one machine by definition, so a file under its root is where every
server process of that machine sees the bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pegasus.errors import ObjectMissingError, StorageUnavailableError
from pegasus.storage.base import CHUNK_SIZE, ResumableState, StoredObject
from pegasus.storage.keys import validate_key, validate_prefix

DATA_NAME = "data"


class LocalResumableWrites:
    """The resumable-write part of ``LocalObjectStore`` (a mixin; see ``ObjectStore``)."""

    if TYPE_CHECKING:

        def _path(self, key: str) -> Path: ...

        def _unavailable(self, exc: OSError, key: str, path: Path) -> StorageUnavailableError: ...

        def delete_prefix(self, prefix: str) -> int: ...

    def start_resumable(
        self, key: str, staging_prefix: str, *, content_type: str = "application/octet-stream"
    ) -> ResumableState:
        """A new write whose bytes go to ``{staging_prefix}data`` until completion."""
        validate_key(key)
        if not staging_prefix.endswith("/"):
            staging_prefix += "/"
        validate_prefix(staging_prefix)
        return {
            "key": key,
            "staging": staging_prefix,
            "content_type": content_type,
            "size": 0,
        }

    def append_resumable(self, state: ResumableState) -> _LocalWriter:
        """Open the staging file, cut it back to ``state["size"]`` and append from there."""
        data_key = state["staging"] + DATA_NAME
        path = self._path(data_key)
        size = int(state["size"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle: BinaryIO = path.open("r+b") if path.exists() else path.open("w+b")
        except OSError as exc:
            raise self._unavailable(exc, data_key, path) from exc
        try:
            actual = handle.seek(0, os.SEEK_END)
            if actual < size:
                raise ObjectMissingError(
                    "The upload's stored bytes are missing; start the upload again.",
                    key=data_key,
                    expected=size,
                    found=actual,
                )
            handle.truncate(size)
            handle.seek(size)
        except OSError as exc:
            handle.close()
            raise self._unavailable(exc, data_key, path) from exc
        except BaseException:
            handle.close()
            raise
        return _LocalWriter(self, state, handle, data_key, path)

    def release_resumable(self, previous: ResumableState, current: ResumableState) -> None:
        """Nothing to release: the one staging file holds every byte."""
        return None

    def complete_resumable(self, state: ResumableState) -> StoredObject:
        """Rename the staging file (cut to ``state["size"]``) to the key, then hash it."""
        key = state["key"]
        target = self._path(key)
        data_key = state["staging"] + DATA_NAME
        staging = self._path(data_key)
        size = int(state["size"])
        try:
            if staging.is_file():
                with staging.open("r+b") as handle:
                    handle.truncate(size)
                    handle.flush()
                    os.fsync(handle.fileno())
                target.parent.mkdir(parents=True, exist_ok=True)
                staging.replace(target)
            elif not (target.is_file() and target.stat().st_size == size):
                raise ObjectMissingError(
                    "The upload's stored bytes are missing; start the upload again.", key=data_key
                )
            return StoredObject(key=key, size_bytes=size, sha256=_sha256_of(target))
        except OSError as exc:
            raise self._unavailable(exc, key, target) from exc

    def discard_resumable(self, state: ResumableState) -> None:
        """Delete the staging directory (a completed object under the key stays)."""
        self.delete_prefix(state["staging"])


class _LocalWriter:
    def __init__(
        self,
        store: LocalResumableWrites,
        state: ResumableState,
        handle: BinaryIO,
        data_key: str,
        path: Path,
    ) -> None:
        self._store = store
        self._state = state
        self._handle = handle
        self._data_key = data_key
        self._path = path
        self._written = 0

    def write(self, chunk: bytes) -> None:
        try:
            self._handle.write(chunk)
        except OSError as exc:
            self._handle.close()
            raise self._store._unavailable(exc, self._data_key, self._path) from exc
        self._written += len(chunk)

    def abandon(self) -> None:
        self._handle.close()

    def finish(self) -> ResumableState:
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise self._store._unavailable(exc, self._data_key, self._path) from exc
        finally:
            self._handle.close()
        return {**self._state, "size": int(self._state["size"]) + self._written}


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
