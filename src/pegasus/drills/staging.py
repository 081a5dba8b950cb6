"""Staging targets: a database and a store of their own, never the deployment's.

Embedded column: a SQLite file and a local store directory under the staging directory.
Scaled column: ``CREATE DATABASE pegasus_drill_<stamp>_<label>`` on the configured
PostgreSQL server and an S3 bucket ``pegasus-drill-<stamp>-<label>`` on the configured
endpoint. Everything made here is removed by ``Staging.close()`` unless the drill keeps it.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

from pegasus.config import Settings, StorageSettings
from pegasus.errors import ConfigError
from pegasus.redaction import redact_url

Column = Literal["embedded", "scaled"]
COLUMNS: tuple[Column, ...] = ("embedded", "scaled")


@dataclass(frozen=True)
class Target:
    """One staging database and store, and the settings that point Pegasus at them."""

    label: str
    settings: Settings

    @property
    def database_url(self) -> str:
        return self.settings.database.url.get_secret_value()

    @property
    def storage(self) -> StorageSettings:
        return self.settings.storage

    def describe(self) -> dict[str, str]:
        """Where the target is, with secrets hidden."""
        store = self.storage
        where = f"s3://{store.s3_bucket}" if store.backend == "s3" else str(store.root)
        return {"database": redact_url(self.database_url), "storage": where}


@dataclass
class Staging:
    """Makes staging targets for one drill run and removes them at the end."""

    settings: Settings
    column: Column
    root: Path
    stamp: str
    server_url: URL | None = None
    s3_endpoint: str | None = None
    keep: bool = False
    _databases: list[str] = field(default_factory=list)
    _buckets: list[str] = field(default_factory=list)

    def new_target(self, label: str) -> Target:
        """A new, empty database and store named after ``label`` (source, restore, ...)."""
        folder = self.root / label
        folder.mkdir(parents=True, exist_ok=False)
        queue = self.settings.queue.model_copy(
            update={"url": f"sqlite:///{folder / 'queue.db'}", "name": f"drill-{label}"}
        )
        if self.column == "embedded":
            database = self.settings.database.model_copy(
                update={"url": SecretStr(f"sqlite:///{folder / 'pegasus.db'}")}
            )
            storage = StorageSettings(backend="local", root=folder / "objects")
        else:
            database = self.settings.database.model_copy(
                update={"url": SecretStr(self._create_database(label))}
            )
            storage = self._storage(self._create_bucket(label))
        staged = self.settings.model_copy(
            update={
                "database": database,
                "storage": storage,
                "queue": queue,
                # The drill runs stages in this process with the offline generator: no LLM
                # endpoint is called and no metrics files are shared with the deployment.
                "llm": self.settings.llm.model_copy(update={"base_url": None}),
                "metrics": self.settings.metrics.model_copy(update={"multiproc_dir": None}),
            }
        )
        return Target(label=label, settings=staged)

    def backup_destination(self) -> str:
        """Where the drill writes its backup set: a directory, or an S3 bucket of its own."""
        if self.column == "embedded":
            return str(self.root / "backups")
        return f"s3://{self._create_bucket('backups')}/sets"

    def s3_settings(self) -> StorageSettings | None:
        """How to reach the drill's S3 buckets (None on the embedded column)."""
        return self._storage("unused") if self.column == "scaled" else None

    def _storage(self, bucket: str) -> StorageSettings:
        base = self.settings.storage
        return StorageSettings(
            backend="s3",
            s3_bucket=bucket,
            s3_endpoint_url=self.s3_endpoint,
            s3_region=base.s3_region,
            s3_access_key_id=base.s3_access_key_id,
            s3_secret_access_key=base.s3_secret_access_key,
            s3_create_bucket=False,
        )

    # --- PostgreSQL -------------------------------------------------------------------

    def _admin_url(self) -> URL:
        if self.server_url is None:
            raise ConfigError("The scaled column needs a PostgreSQL server URL.")
        return self.server_url

    def _create_database(self, label: str) -> str:
        name = f"pegasus_drill_{self.stamp.replace('-', '_')}_{label}"
        engine = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        self._databases.append(name)
        return self._admin_url().set(database=name).render_as_string(hide_password=False)

    def _drop_database(self, name: str) -> None:
        engine = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()

    def server_version(self) -> str:
        """The database server's (or SQLite library's) version, for the evidence."""
        if self.column == "embedded":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        engine = create_engine(self._admin_url())
        try:
            with engine.connect() as connection:
                return str(connection.execute(text("SELECT version()")).scalar_one())
        finally:
            engine.dispose()

    # --- S3 ---------------------------------------------------------------------------

    def _s3_client(self) -> Any:
        import boto3

        base = self.settings.storage
        return boto3.session.Session(
            aws_access_key_id=_secret(base.s3_access_key_id),
            aws_secret_access_key=_secret(base.s3_secret_access_key),
            region_name=base.s3_region,
        ).client("s3", endpoint_url=self.s3_endpoint or None)

    def _create_bucket(self, label: str) -> str:
        from pegasus.storage.factory import build_object_store

        name = f"pegasus-drill-{self.stamp}-{label}"
        storage = self._storage(name).model_copy(update={"s3_create_bucket": True})
        build_object_store(storage).check()  # creates it, proves it writable, leaves it empty
        self._buckets.append(name)
        return name

    def _drop_bucket(self, name: str) -> None:
        client = self._s3_client()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)

    # --- teardown ---------------------------------------------------------------------

    def created(self) -> dict[str, Any]:
        """What this run made, for the evidence."""
        return {
            "root": str(self.root),
            "databases": list(self._databases),
            "buckets": list(self._buckets),
            "kept": self.keep,
        }

    def close(self) -> list[str]:
        """Remove what was made (unless ``keep``); return what could not be removed."""
        if self.keep:
            return []
        problems: list[str] = []
        for name in self._databases:
            try:
                self._drop_database(name)
            except Exception as exc:
                problems.append(f"database {name}: {exc}")
        for bucket in self._buckets:
            try:
                self._drop_bucket(bucket)
            except Exception as exc:
                problems.append(f"bucket {bucket}: {exc}")
        shutil.rmtree(self.root, ignore_errors=True)
        return problems


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None


def new_stamp(now: datetime | None = None) -> str:
    """``20261207t101502-3fa9``: the drill run's name in databases, buckets and folders."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dt%H%M%S}-{secrets.token_hex(2)}"


def server_url(raw: str) -> URL:
    """A PostgreSQL URL for the psycopg driver (``postgresql://`` is taken to mean it)."""
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "The scaled column's drill needs a PostgreSQL server: give --database-url "
            "postgresql+psycopg://USER@HOST:PORT/DB (only the server is used; the drill "
            "creates and drops a database of its own there)."
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def open_staging(
    settings: Settings,
    column: Column,
    *,
    staging_dir: Path | None,
    database_url: str | None,
    s3_endpoint: str | None,
    keep: bool,
) -> Staging:
    """A ``Staging`` for ``column``: the scaled column's server and endpoint come from the
    arguments, else from ``settings`` (the configured deployment's server and endpoint)."""
    stamp = new_stamp()
    if staging_dir is None:
        root = Path(tempfile.mkdtemp(prefix=f"pegasus-drill-{stamp}-"))
    else:
        root = staging_dir.resolve() / f"pegasus-drill-{stamp}"
        root.mkdir(parents=True, exist_ok=False)
    if column == "embedded":
        return Staging(settings, column, root, stamp, keep=keep)
    configured = settings.database.url.get_secret_value()
    raw_url = database_url or (configured if not settings.database.is_sqlite else None)
    if raw_url is None:
        shutil.rmtree(root, ignore_errors=True)
        raise ConfigError(
            "The scaled column's drill needs a PostgreSQL server: give --database-url, or "
            "configure PEGASUS_DATABASE_URL with a postgresql+psycopg:// URL."
        )
    endpoint = s3_endpoint or settings.storage.s3_endpoint_url
    if endpoint is None and settings.storage.backend != "s3":
        shutil.rmtree(root, ignore_errors=True)
        raise ConfigError(
            "The scaled column's drill needs an S3 endpoint: give --s3-endpoint, or configure "
            "PEGASUS_STORAGE_BACKEND=s3 (with PEGASUS_STORAGE_S3_ENDPOINT_URL for MinIO, R2)."
        )
    return Staging(
        settings,
        column,
        root,
        stamp,
        server_url=server_url(raw_url),
        s3_endpoint=endpoint,
        keep=keep,
    )
