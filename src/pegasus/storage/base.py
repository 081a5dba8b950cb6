"""The ObjectStore protocol every storage backend implements.

Keys are ``/``-separated relative paths such as ``courses/{course}/lectures/{lecture}/source``.
A key never starts with ``/`` and never contains ``..`` segments; stores refuse such keys with
``InvalidRequestError``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

CHUNK_SIZE = 1024 * 1024


def iter_chunks(
    source: BinaryIO | Iterable[bytes], chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield the non-empty chunks of a binary file object (read in ``chunk_size``) or iterable."""
    read = getattr(source, "read", None)
    if callable(read):
        while chunk := read(chunk_size):
            yield bytes(chunk)
        return
    for chunk in source:
        if chunk:
            yield bytes(chunk)


class LimitedReader(io.RawIOBase):
    """At most ``limit`` bytes of ``source``, then end of file; closing it closes ``source``."""

    def __init__(self, source: BinaryIO, limit: int | None) -> None:
        super().__init__()
        self._source = source
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        size = len(buffer) if self._left is None else min(len(buffer), self._left)
        if size <= 0:
            return 0
        data = self._source.read(size)
        count = len(data)
        buffer[:count] = data
        if self._left is not None:
            self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def check_range(start: int, length: int | None) -> None:
    """Refuse a negative ``start`` or ``length`` (a caller's bug, not a reader's input)."""
    if start < 0 or (length is not None and length < 0):
        raise ValueError(f"invalid byte range: start={start}, length={length}")


@dataclass(frozen=True)
class StoredObject:
    """What a store knows about one object after writing or listing it."""

    key: str
    size_bytes: int
    sha256: str | None = None  # hex digest; known after a write, None when only listed
    #: When the object was last written (UTC); set by ``list_prefix``, None after a write.
    #: Not part of equality: two listings of one unchanged object compare equal.
    modified_at: datetime | None = field(default=None, compare=False)


#: Where a resumable write stands: plain JSON, opaque to callers, who keep it (in a database
#: row) between requests and hand it back. ``state["size"]`` is how many bytes it holds.
ResumableState = dict[str, Any]


class ResumableWriter(Protocol):
    """Appends bytes to one resumable write; one writer per write at a time (callers lock)."""

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; it may be buffered until ``finish``."""
        ...

    def finish(self) -> ResumableState:
        """Make every byte written durable and return the new state (the old one stays valid
        until ``release_resumable`` is called with both)."""
        ...

    def abandon(self) -> None:
        """Stop without recording anything; what was written is ignored by later writers."""
        ...


@runtime_checkable
class ObjectStore(Protocol):
    """Contract for object storage backends.

    Implementations MUST:
    - write in constant memory: ``put_stream`` reads its source in chunks and never holds the
      whole object, and returns the SHA-256 and size it computed while writing;
    - make writes atomic from a reader's point of view: a key either holds the complete new
      object or what it held before, never a partial one (``put_stream`` that raises leaves
      no partial object under the key);
    - raise ``ObjectMissingError`` when reading a key that does not exist, and
      ``StorageUnavailableError`` (transient) when the backend cannot be reached;
    - accept ``max_bytes`` on ``put_stream`` and raise ``MediaTooLargeError`` without keeping
      anything under the key once more bytes than that arrive.
    Implementations SHOULD stream reads (``open_read`` returns a file object read in chunks).
    """

    def put_stream(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Write everything ``source`` yields under ``key``; return size and SHA-256."""
        ...

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Write a small object held in memory."""
        ...

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Write a local file under ``key`` (streamed)."""
        ...

    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for reading; the caller closes the returned file object."""
        ...

    def open_range(self, key: str, start: int, length: int | None = None) -> BinaryIO:
        """Open bytes ``start`` .. ``start + length - 1`` of ``key`` (to its end when ``length``
        is None) for reading in chunks; the caller closes it. A range reaching past the end
        yields only the bytes that exist (none when ``start`` is at or past the end); a missing
        key raises ``ObjectMissingError``. ``start`` and ``length`` must not be negative."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read a small object whole."""
        ...

    def download_to(self, key: str, path: Path) -> None:
        """Copy ``key`` into the local file ``path`` (streamed), replacing it."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""
        ...

    def list_prefix(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, in key order."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; return how many were deleted."""
        ...

    def delete(self, key: str, *, unmodified_since: datetime | None = None) -> bool:
        """Delete the one object ``key`` (not the keys it is a prefix of); False when there
        was none. With ``unmodified_since``, an object written at or after that moment is
        kept (False): a sweep never removes what a writer has just rewritten."""
        ...

    def check(self) -> None:
        """Raise ``StorageUnavailableError`` unless the store is reachable and writable."""
        ...

    # Resumable writes (tus uploads): bytes arrive over many requests, possibly to different
    # replicas; the state says where they are. Bytes wait under ``staging_prefix`` (local: one
    # file appended to; S3: a multipart upload plus a tail smaller than one part) and appear
    # under ``key`` only at ``complete_resumable``.

    def start_resumable(
        self, key: str, staging_prefix: str, *, content_type: str = "application/octet-stream"
    ) -> ResumableState:
        """The state of a new, empty resumable write that will end up under ``key``."""
        ...

    def append_resumable(self, state: ResumableState) -> ResumableWriter:
        """A writer continuing at ``state["size"]``; bytes an unfinished earlier writer left
        past that point are ignored."""
        ...

    def release_resumable(self, previous: ResumableState, current: ResumableState) -> None:
        """Delete what ``previous`` held that ``current`` no longer needs; call it once
        ``current`` is recorded."""
        ...

    def complete_resumable(self, state: ResumableState) -> StoredObject:
        """Put the bytes of ``state`` under its key and return size and SHA-256 (computed by
        reading the object back). Calling it again after success returns the same object."""
        ...

    def discard_resumable(self, state: ResumableState) -> None:
        """Delete everything the write keeps besides a completed object: staging bytes and an
        unfinished multipart upload. Before completion this abandons the write."""
        ...


class StreamingObjectStore:
    """The parts of ``ObjectStore`` that follow from ``put_stream``; stores inherit them."""

    def put_stream(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = None,
    ) -> StoredObject:
        raise NotImplementedError

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Write a small object held in memory."""
        return self.put_stream(key, [data], content_type=content_type)

    def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Write a local file under ``key`` (streamed); errors opening ``path`` propagate."""
        with path.open("rb") as source:
            return self.put_stream(key, source, content_type=content_type)
