"""The ObjectStore protocol every storage backend implements.

Keys are ``/``-separated relative paths such as ``courses/{course}/lectures/{lecture}/source``.
A key never starts with ``/`` and never contains ``..`` segments; stores refuse such keys with
``InvalidRequestError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

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


@dataclass(frozen=True)
class StoredObject:
    """What a store knows about one object after writing or listing it."""

    key: str
    size_bytes: int
    sha256: str | None = None  # hex digest; known after a write, None when only listed


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

    def check(self) -> None:
        """Raise ``StorageUnavailableError`` unless the store is reachable and writable."""
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
