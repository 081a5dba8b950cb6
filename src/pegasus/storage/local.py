"""An ObjectStore over a local directory: one file per key, written atomically."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pegasus.errors import (
    InvalidRequestError,
    MediaTooLargeError,
    ObjectMissingError,
    StorageFullError,
    StorageUnavailableError,
)
from pegasus.storage.base import (
    CHUNK_SIZE,
    LimitedReader,
    StoredObject,
    StreamingObjectStore,
    check_range,
    iter_chunks,
)
from pegasus.storage.keys import validate_key, validate_prefix
from pegasus.storage.local_resumable import LocalResumableWrites

_TEMP_SUFFIX = ".part-"
_TEMP_NAME = re.compile(r"\.part-[0-9a-f]{32}\Z")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is an in-progress write (``<name>.part-<uuid>``), never an object."""
    return _TEMP_NAME.search(name) is not None


def _temp_name(name: str) -> str:
    return f"{name}{_TEMP_SUFFIX}{uuid.uuid4().hex}"


class LocalObjectStore(LocalResumableWrites, StreamingObjectStore):
    """Objects as files under ``root``; a write goes to a temp file renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def __repr__(self) -> str:
        return f"LocalObjectStore(root={str(self.root)!r})"

    # --- paths ---------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        validate_key(key)
        if is_temp_name(key.rsplit("/", 1)[-1]):
            raise InvalidRequestError(
                "That object key is reserved for in-progress writes.", key=key
            )
        return self.root.joinpath(*key.split("/"))

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _unavailable(self, exc: OSError, key: str, path: Path) -> StorageUnavailableError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageFullError(key=key, path=str(path), error=repr(exc))
        return StorageUnavailableError(key=key, path=str(path), error=repr(exc))

    # --- writes --------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Stream ``source`` into a temp file beside the target, then rename it into place.
        On any failure the temp file and the directories left empty are removed."""
        path = self._path(key)
        temp = path.with_name(_temp_name(path.name))
        digest = hashlib.sha256()
        size = 0
        try:
            with self._create(temp, key) as out:
                for chunk in iter_chunks(source):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise MediaTooLargeError(key=key, max_bytes=max_bytes)
                    digest.update(chunk)
                    self._write(out, chunk, key, temp)
                self._sync(out, key, temp)
            self._replace(temp, path, key)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            # A refused write leaves nothing behind: not even the directories made for it.
            self._remove_empty_dirs({temp.parent})
            raise
        return StoredObject(key=key, size_bytes=size, sha256=digest.hexdigest())

    def _create(self, temp: Path, key: str) -> BinaryIO:
        # Two tries: a concurrent delete_prefix may remove the (empty) parent between the
        # mkdir and the open.
        for attempt in (1, 2):
            try:
                temp.parent.mkdir(parents=True, exist_ok=True)
                return temp.open("xb")
            except (FileExistsError, NotADirectoryError) as exc:
                if not self.root.is_dir():
                    raise self._unavailable(exc, key, temp) from exc
                raise InvalidRequestError(
                    "That object key conflicts with an existing object.", key=key
                ) from exc
            except FileNotFoundError as exc:
                if attempt == 2:
                    raise self._unavailable(exc, key, temp) from exc
            except OSError as exc:
                raise self._unavailable(exc, key, temp) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, out: BinaryIO, chunk: bytes, key: str, temp: Path) -> None:
        try:
            out.write(chunk)
        except OSError as exc:
            raise self._unavailable(exc, key, temp) from exc

    def _sync(self, out: BinaryIO, key: str, temp: Path) -> None:
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:
            raise self._unavailable(exc, key, temp) from exc

    def _replace(self, temp: Path, path: Path, key: str) -> None:
        try:
            temp.replace(path)
        except IsADirectoryError as exc:
            raise InvalidRequestError(
                "That object key conflicts with existing objects under it.", key=key
            ) from exc
        except OSError as exc:
            if path.is_dir():
                raise InvalidRequestError(
                    "That object key conflicts with existing objects under it.", key=key
                ) from exc
            raise self._unavailable(exc, key, path) from exc

    # --- reads ---------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for reading; the caller closes it."""
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectMissingError(key=key) from exc
        except OSError as exc:
            raise self._unavailable(exc, key, path) from exc

    def open_range(self, key: str, start: int, length: int | None = None) -> BinaryIO:
        """Open ``length`` bytes of ``key`` from ``start`` (a seek); the caller closes it."""
        check_range(start, length)
        source = self.open_read(key)
        try:
            source.seek(start)
        except OSError as exc:
            source.close()
            raise self._unavailable(exc, key, self._path(key)) from exc
        return io.BufferedReader(LimitedReader(source, length), buffer_size=CHUNK_SIZE)

    def get_bytes(self, key: str) -> bytes:
        """Read a small object whole."""
        with self.open_read(key) as source:
            path = self._path(key)
            try:
                return source.read()
            except OSError as exc:
                raise self._unavailable(exc, key, path) from exc

    def download_to(self, key: str, path: Path) -> None:
        """Copy ``key`` to ``path`` through a temp file beside it, replacing ``path``."""
        temp = path.with_name(_temp_name(path.name))
        with self.open_read(key) as source:
            try:
                with temp.open("xb") as out:
                    while True:
                        try:
                            chunk = source.read(CHUNK_SIZE)
                        except OSError as exc:
                            raise self._unavailable(exc, key, self._path(key)) from exc
                        if not chunk:
                            break
                        out.write(chunk)
                temp.replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    temp.unlink(missing_ok=True)
                raise

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""
        path = self._path(key)
        try:
            return path.is_file()
        except OSError as exc:
            raise self._unavailable(exc, key, path) from exc

    def list_prefix(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, in key (code point) order."""
        return iter(self._scan(validate_prefix(prefix)))

    def _scan(self, prefix: str) -> list[StoredObject]:
        # Keys sort by code point (as S3 sorts by UTF-8 bytes), which a directory walk does not
        # follow ('a.b' < 'a/b'), so collect then sort.
        directory = self.root.joinpath(*prefix.split("/")[:-1])
        found: list[StoredObject] = []
        try:
            if not directory.is_dir():
                return found
            for dirpath, _dirnames, filenames in os.walk(directory, onerror=_raise):
                base = Path(dirpath)
                for name in filenames:
                    if is_temp_name(name):
                        continue
                    path = base / name
                    key = self._key(path)
                    if not key.startswith(prefix):
                        continue
                    try:
                        info = path.stat()
                    except FileNotFoundError:
                        continue  # deleted while listing
                    found.append(
                        StoredObject(
                            key=key, size_bytes=info.st_size, modified_at=_modified(info.st_mtime)
                        )
                    )
        except OSError as exc:
            raise self._unavailable(exc, prefix, directory) from exc
        found.sort(key=lambda stored: stored.key)
        return found

    # --- deletes and health ----------------------------------------------------------------

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``, then the directories left empty; return count.

        The empty prefix (everything) is refused. Temp files of writes in progress are left.
        """
        if not prefix:
            raise InvalidRequestError("Refusing to delete every object in the store.")
        deleted = 0
        directories: set[Path] = set()
        for stored in self._scan(validate_prefix(prefix)):
            path = self.root.joinpath(*stored.key.split("/"))
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise self._unavailable(exc, stored.key, path) from exc
            deleted += 1
            directories.add(path.parent)
        self._remove_empty_dirs(directories)
        return deleted

    def delete(self, key: str, *, unmodified_since: datetime | None = None) -> bool:
        """Delete the file of ``key`` (and the directories left empty); False when there is
        none, or when it was written at or after ``unmodified_since``."""
        path = self._path(key)
        try:
            fresh = unmodified_since is not None and (
                _modified(path.stat().st_mtime) >= unmodified_since
            )
            if fresh:
                return False
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        except OSError as exc:
            raise self._unavailable(exc, key, path) from exc
        self._remove_empty_dirs({path.parent})
        return True

    def _remove_empty_dirs(self, directories: set[Path]) -> None:
        # Deepest first, walking up until a directory is not empty or the root is reached.
        for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
            current = directory
            while current != self.root and self.root in current.parents:
                try:
                    current.rmdir()
                except OSError:
                    break  # not empty (or already gone, or busy): leave it
                current = current.parent

    def check(self) -> None:
        """Create the root if needed and prove it writable by writing and deleting a probe."""
        probe = self.root / _temp_name(".check")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with probe.open("xb") as out:
                out.write(b"ok")
            probe.unlink()
        except OSError as exc:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            raise StorageUnavailableError(path=str(self.root), error=repr(exc)) from exc


def _raise(exc: OSError) -> None:
    raise exc


def _modified(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, tz=UTC)
