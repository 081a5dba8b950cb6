"""An ObjectStore over an S3 bucket (AWS, MinIO, R2, ...), written with multipart uploads."""

from __future__ import annotations

import contextlib
import hashlib
import io
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pegasus.errors import (
    InvalidRequestError,
    MediaTooLargeError,
    ObjectMissingError,
    PegasusError,
    StorageUnavailableError,
)
from pegasus.storage.base import (
    CHUNK_SIZE,
    StoredObject,
    StreamingObjectStore,
    check_range,
    iter_chunks,
)
from pegasus.storage.keys import validate_key, validate_prefix
from pegasus.storage.s3_resumable import S3ResumableWrites

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

PART_SIZE = 8 * 1024 * 1024
DELETE_BATCH = 1000
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_MISSING_BUCKET_MESSAGE = (
    "The storage bucket does not exist. Create it, or set PEGASUS_STORAGE_S3_CREATE_BUCKET=true."
)
_REFUSED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)
_REFUSED_MESSAGE = "File storage refused Pegasus's credentials; check the S3 access key."


def _client_config() -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=5,
        read_timeout=30,
        # Extra CRC checksums (botocore's default since 1.36) break several S3-compatible
        # servers; Pegasus computes its own SHA-256.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


class S3ObjectStore(S3ResumableWrites, StreamingObjectStore):
    """Objects in one S3 bucket; a write is a single PUT or a multipart upload."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        create_bucket: bool = False,
        part_size: int = PART_SIZE,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.bucket = bucket
        self.region = region
        self.create_bucket = create_bucket
        self.part_size = part_size
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self._client: S3Client = session.client(
            "s3", endpoint_url=endpoint_url or None, config=_client_config()
        )

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r})"

    # --- errors --------------------------------------------------------------------------

    def _error(self, exc: Exception, key: str | None = None) -> PegasusError:
        """The Pegasus error for a botocore error raised while working on ``key``."""
        context = {"bucket": self.bucket, "key": key, "error": repr(exc)}
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            context["code"] = code
            if code == "NoSuchBucket":
                return StorageUnavailableError(_MISSING_BUCKET_MESSAGE, **context)
            if key is not None and (code in _MISSING_KEY_CODES or status == 404):
                return ObjectMissingError(key=key)
            if code in _REFUSED_CODES:
                return StorageUnavailableError(_REFUSED_MESSAGE, **context)
            return StorageUnavailableError(**context)
        if isinstance(exc, NoCredentialsError):
            return StorageUnavailableError(_REFUSED_MESSAGE, **context)
        return StorageUnavailableError(**context)

    # --- writes --------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Buffer up to one part; a larger object goes up as a multipart upload.

        Nothing is visible under ``key`` until the single PUT or the multipart completion, and
        any failure (including ``max_bytes`` exceeded) aborts the multipart upload.
        """
        validate_key(key)
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        try:
            for chunk in iter_chunks(source, CHUNK_SIZE):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise MediaTooLargeError(key=key, max_bytes=max_bytes)
                digest.update(chunk)
                buffer += chunk
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self._client.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type
                        )["UploadId"]
                    parts.append(
                        self._upload_part(key, upload_id, len(parts) + 1, buffer[: self.part_size])
                    )
                    del buffer[: self.part_size]
            if upload_id is None:
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(buffer), ContentType=content_type
                )
            else:
                if buffer or not parts:
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, buffer))
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                upload_id = None
        except BaseException as exc:
            if upload_id is not None:
                self._abort(key, upload_id)
            if isinstance(exc, BotoCoreError | ClientError):
                raise self._error(exc, None) from exc
            raise
        return StoredObject(key=key, size_bytes=size, sha256=digest.hexdigest())

    def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytearray
    ) -> CompletedPartTypeDef:
        response = self._client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: a bucket lifecycle rule should also expire abandoned uploads.
        with contextlib.suppress(BotoCoreError, ClientError):
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    # --- reads ---------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        """Stream ``key``'s body; read errors surface as StorageUnavailableError."""
        validate_key(key)
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, key) from exc
        return io.BufferedReader(_BodyReader(body, self, key), buffer_size=CHUNK_SIZE)

    def open_range(self, key: str, start: int, length: int | None = None) -> BinaryIO:
        """Stream ``length`` bytes of ``key`` from ``start`` with one ranged GetObject."""
        validate_key(key)
        check_range(start, length)
        if length == 0 or (start == 0 and length is None):
            # S3 has no empty range; an empty read still proves the key exists.
            if length == 0 and not self.exists(key):
                raise ObjectMissingError(key=key)
            return io.BytesIO() if length == 0 else self.open_read(key)
        last = "" if length is None else str(start + length - 1)
        try:
            body = self._client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{last}"
            )["Body"]
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) == "InvalidRange":
                if not self.exists(key):  # pragma: no cover (S3 answers 404 first)
                    raise ObjectMissingError(key=key) from exc
                return io.BytesIO()  # start is at or past the end
            raise self._error(exc, key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, key) from exc
        return io.BufferedReader(_BodyReader(body, self, key), buffer_size=CHUNK_SIZE)

    def get_bytes(self, key: str) -> bytes:
        """Read a small object whole."""
        with self.open_read(key) as source:
            return source.read()

    def download_to(self, key: str, path: Path) -> None:
        """Copy ``key`` to ``path`` through a temp file beside it, replacing ``path``."""
        temp = path.with_name(f"{path.name}.part-{uuid.uuid4().hex}")
        with self.open_read(key) as source:
            try:
                with temp.open("xb") as out:
                    while chunk := source.read(CHUNK_SIZE):
                        out.write(chunk)
                temp.replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    temp.unlink(missing_ok=True)
                raise

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object (a missing bucket also answers False)."""
        validate_key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            error = self._error(exc, key)
            if isinstance(error, ObjectMissingError):
                return False
            raise error from exc
        return True

    def list_prefix(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, in key order, page by page."""
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[StoredObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        key=item["Key"], size_bytes=item["Size"], modified_at=item["LastModified"]
                    )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, None) from exc

    # --- deletes and health ----------------------------------------------------------------

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` in batches of 1000; return how many.

        The empty prefix (everything) is refused.
        """
        if not prefix:
            raise InvalidRequestError("Refusing to delete every object in the store.")
        validate_prefix(prefix)
        deleted = 0
        batch: list[ObjectIdentifierTypeDef] = []
        for stored in self._list(prefix):
            batch.append({"Key": stored.key})
            if len(batch) == DELETE_BATCH:
                deleted += self._delete_batch(batch)
                batch = []
        if batch:
            deleted += self._delete_batch(batch)
        return deleted

    def delete(self, key: str, *, unmodified_since: datetime | None = None) -> bool:
        """Delete the object ``key``; False when there is none, or when it was written at
        or after ``unmodified_since`` (read with a HEAD just before the delete)."""
        validate_key(key)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
            if unmodified_since is not None and head["LastModified"] >= unmodified_since:
                return False
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            error = self._error(exc, key)
            if isinstance(error, ObjectMissingError):
                return False
            raise error from exc
        return True

    def _delete_batch(self, batch: list[ObjectIdentifierTypeDef]) -> int:
        try:
            response = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, None) from exc
        errors = response.get("Errors", [])
        if errors:
            raise StorageUnavailableError(
                bucket=self.bucket,
                failed=[(error.get("Key"), error.get("Code")) for error in errors[:10]],
                failed_count=len(errors),
            )
        return len(batch)

    def check(self) -> None:
        """Reach the bucket (creating it when allowed) and prove it writable with a probe."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in {"404", "NoSuchBucket", "NotFound"}:
                raise self._error(exc, None) from exc
            if not self.create_bucket:
                raise StorageUnavailableError(
                    _MISSING_BUCKET_MESSAGE, bucket=self.bucket, code=code
                ) from exc
            self._create_bucket()
        except BotoCoreError as exc:
            raise self._error(exc, None) from exc
        probe = f".pegasus-check/{uuid.uuid4().hex}"
        try:
            self._client.put_object(Bucket=self.bucket, Key=probe, Body=b"ok")
            self._client.delete_object(Bucket=self.bucket, Key=probe)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, None) from exc

    def _create_bucket(self) -> None:
        try:
            if self.region == "us-east-1":
                self._client.create_bucket(Bucket=self.bucket)
            else:
                self._client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", self.region)
                    },
                )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise self._error(exc, None) from exc
        except BotoCoreError as exc:
            raise self._error(exc, None) from exc


class _BodyReader(io.RawIOBase):
    """A raw stream over a StreamingBody that turns botocore errors into Pegasus ones."""

    def __init__(self, body: StreamingBody, store: S3ObjectStore, key: str) -> None:
        super().__init__()
        self._body = body
        self._store = store
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        try:
            data = self._body.read(len(buffer))
        except (BotoCoreError, ClientError) as exc:
            raise self._store._error(exc, self._key) from exc
        count = len(data)
        buffer[:count] = data
        return count

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
