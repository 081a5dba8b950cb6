"""Resumable writes for the S3 store: a multipart upload plus a small tail object.

S3 parts must be at least 5 MiB (all but the last), while a tus PATCH may carry any number
of bytes. Whole parts go into the multipart upload as soon as they are full; the rest (the
tail, smaller than one part) is kept as its own object under the staging prefix, named
afresh on every write so that an older state still finds its own tail. Nothing lives on one
server's disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pegasus.errors import ObjectMissingError, PegasusError
from pegasus.storage.base import CHUNK_SIZE, ResumableState, StoredObject
from pegasus.storage.keys import validate_key, validate_prefix

if TYPE_CHECKING:
    from typing import BinaryIO

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


class S3ResumableWrites:
    """The resumable-write part of ``S3ObjectStore`` (a mixin; see ``ObjectStore``)."""

    if TYPE_CHECKING:
        _client: S3Client
        bucket: str
        part_size: int

        def _error(self, exc: Exception, key: str | None = None) -> PegasusError: ...

        def open_read(self, key: str) -> BinaryIO: ...

        def exists(self, key: str) -> bool: ...

        def delete_prefix(self, prefix: str) -> int: ...

    def start_resumable(
        self, key: str, staging_prefix: str, *, content_type: str = "application/octet-stream"
    ) -> ResumableState:
        """Create the multipart upload now, so its id is recorded with the upload from the
        start and can always be aborted."""
        validate_key(key)
        if not staging_prefix.endswith("/"):
            staging_prefix += "/"
        validate_prefix(staging_prefix)
        try:
            upload_id = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type
            )["UploadId"]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, None) from exc
        return {
            "key": key,
            "staging": staging_prefix,
            "content_type": content_type,
            "size": 0,
            "upload_id": upload_id,
            "parts": [],
            "parts_bytes": 0,
            "tail": None,
        }

    def append_resumable(self, state: ResumableState) -> _S3Writer:
        """A writer that starts from the recorded parts and the recorded tail's bytes."""
        tail = self._read_tail(state)
        return _S3Writer(self, state, tail)

    def _read_tail(self, state: ResumableState) -> bytes:
        tail_key = state.get("tail")
        if not tail_key:
            return b""
        with self.open_read(tail_key) as source:
            data = source.read()
        expected = int(state["size"]) - int(state["parts_bytes"])
        if len(data) != expected:
            raise ObjectMissingError(
                "The upload's stored bytes are damaged; start the upload again.",
                key=tail_key,
                expected=expected,
                found=len(data),
            )
        return data

    def release_resumable(self, previous: ResumableState, current: ResumableState) -> None:
        """Delete the previous tail object once the current state no longer uses it."""
        old = previous.get("tail")
        if old and old != current.get("tail"):
            self._delete_key(old)

    def _delete_key(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, key) from exc

    def complete_resumable(self, state: ResumableState) -> StoredObject:
        """Complete the multipart upload (the tail as its last part), or, when no whole part
        was ever uploaded, PUT the tail as the object; then hash it by reading it back."""
        key = state["key"]
        size = int(state["size"])
        parts: list[CompletedPartTypeDef] = [
            {"PartNumber": int(number), "ETag": str(etag)} for number, etag in state["parts"]
        ]
        try:
            tail = self._read_tail(state)
            if parts:
                if tail:
                    number = len(parts) + 1
                    response = self._client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=state["upload_id"],
                        PartNumber=number,
                        Body=tail,
                    )
                    parts.append({"PartNumber": number, "ETag": response["ETag"]})
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=state["upload_id"],
                    MultipartUpload={"Parts": parts},
                )
            else:
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=tail, ContentType=state["content_type"]
                )
                self._abort_resumable(state)
        except (BotoCoreError, ClientError, ObjectMissingError) as exc:
            if self._already_complete(key, size):
                return StoredObject(key=key, size_bytes=size, sha256=self._sha256_of(key))
            if isinstance(exc, ObjectMissingError):
                raise
            raise self._error(exc, key) from exc
        return StoredObject(key=key, size_bytes=size, sha256=self._sha256_of(key))

    def _already_complete(self, key: str, size: int) -> bool:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError):
            return False
        return int(head.get("ContentLength", -1)) == size

    def _sha256_of(self, key: str) -> str:
        digest = hashlib.sha256()
        with self.open_read(key) as source:
            while chunk := source.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def _abort_resumable(self, state: ResumableState) -> None:
        upload_id = state.get("upload_id")
        if upload_id:
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=state["key"], UploadId=upload_id
                )

    def discard_resumable(self, state: ResumableState) -> None:
        """Abort the multipart upload (a no-op once completed) and delete the staging objects."""
        self._abort_resumable(state)
        self.delete_prefix(state["staging"])


class _S3Writer:
    def __init__(self, store: S3ResumableWrites, state: ResumableState, tail: bytes) -> None:
        self._store = store
        self._state = state
        self._buffer = bytearray(tail)
        self._parts: list[list[Any]] = [list(part) for part in state["parts"]]
        self._parts_bytes = int(state["parts_bytes"])
        self._written = 0

    def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        self._written += len(chunk)
        size = self._store.part_size
        while len(self._buffer) >= size:
            self._upload_part(bytes(self._buffer[:size]))
            del self._buffer[:size]

    def _upload_part(self, data: bytes) -> None:
        store = self._store
        number = len(self._parts) + 1
        try:
            response = store._client.upload_part(
                Bucket=store.bucket,
                Key=self._state["key"],
                UploadId=self._state["upload_id"],
                PartNumber=number,
                Body=data,
            )
        except (BotoCoreError, ClientError) as exc:
            raise store._error(exc, None) from exc
        self._parts.append([number, response["ETag"]])
        self._parts_bytes += len(data)

    def abandon(self) -> None:
        self._buffer = bytearray()

    def finish(self) -> ResumableState:
        tail_key: str | None = None
        if self._buffer:
            tail_key = f"{self._state['staging']}tail-{uuid.uuid4().hex}"
            store = self._store
            try:
                store._client.put_object(
                    Bucket=store.bucket, Key=tail_key, Body=bytes(self._buffer)
                )
            except (BotoCoreError, ClientError) as exc:
                raise store._error(exc, tail_key) from exc
        return {
            **self._state,
            "size": int(self._state["size"]) + self._written,
            "parts": self._parts,
            "parts_bytes": self._parts_bytes,
            "tail": tail_key,
        }
