"""Build the configured ObjectStore from StorageSettings."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from pegasus.config import StorageSettings
from pegasus.storage.base import ObjectStore
from pegasus.storage.local import LocalObjectStore


def build_object_store(settings: StorageSettings) -> ObjectStore:
    """The local or S3 store ``settings`` describe; a relative local root is under the CWD."""
    if settings.backend == "local":
        root = settings.root if settings.root.is_absolute() else Path.cwd() / settings.root
        return LocalObjectStore(root)
    from pegasus.storage.s3 import S3ObjectStore  # boto3 is only imported when S3 is used

    return S3ObjectStore(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region,
        access_key_id=_secret(settings.s3_access_key_id),
        secret_access_key=_secret(settings.s3_secret_access_key),
        create_bucket=settings.s3_create_bucket,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None
