"""What a fault must never do to a lecture, checked against the database and the store.

After a fault (a worker killed, the broker restarted, storage or the database cut off, a
message delivered twice, a full disk) every lecture must:

- have ended: ``succeeded``, or ``failed`` with a specific error code (``internal.error`` is
  never acceptable, in the final failure or in any attempt before it);
- have each artifact once: one row per kind, and exactly one stored object per row under the
  lecture's prefix (no second copy, no stray version, no half-written temp file);
- have lost no byte: the source's row and object still hash to what was uploaded, and every
  artifact's object matches its row's size and SHA-256.

``audit_lectures`` returns every breach it finds as a sentence, so a test can assert that the
list is empty and show all of them at once when it is not.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from pegasus.config import StorageSettings
from pegasus.db.models import Artifact, Lecture, StageRun
from pegasus.errors import InternalStageError, ObjectMissingError
from pegasus.storage.base import ObjectStore
from pegasus.storage.factory import build_object_store
from pegasus.storage.keys import lecture_prefix

#: The artifact kind of the uploaded recording.
SOURCE = "source"
#: Kinds every succeeded lecture has (exports add one kind per format on top).
SUCCEEDED_KINDS = frozenset({SOURCE, "audio", "transcript", "kit"})
FINAL_STATUSES = ("succeeded", "failed")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def object_sha256(store: ObjectStore, key: str) -> tuple[int, str]:
    """Size and SHA-256 of the object under ``key``, read back from ``store``."""
    digest = hashlib.sha256()
    size = 0
    with store.open_read(key) as source:
        while block := source.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


@contextlib.contextmanager
def store_for(env: Mapping[str, str], *, s3_endpoint: str | None = None) -> Iterator[ObjectStore]:
    """The object store a deployment's environment ``env`` names, closed afterwards;
    ``s3_endpoint`` replaces its endpoint (to read past a proxy the test has cut)."""
    if env.get("PEGASUS_STORAGE_BACKEND", "local") == "local":
        yield build_object_store(StorageSettings(root=Path(env["PEGASUS_STORAGE_ROOT"])))
        return
    secret_file = env.get("PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE")
    secret = (
        Path(secret_file).read_text(encoding="utf-8").strip()
        if secret_file
        else env["PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY"]
    )
    store = build_object_store(
        StorageSettings(
            backend="s3",
            s3_bucket=env["PEGASUS_STORAGE_S3_BUCKET"],
            s3_endpoint_url=s3_endpoint or env["PEGASUS_STORAGE_S3_ENDPOINT_URL"],
            s3_access_key_id=SecretStr(env["PEGASUS_STORAGE_S3_ACCESS_KEY_ID"]),
            s3_secret_access_key=SecretStr(secret),
        )
    )
    try:
        yield store
    finally:
        # The boto3 client keeps pooled sockets open until it is closed; left to the garbage
        # collector they surface as ResourceWarnings in whichever test runs then.
        client = getattr(store, "_client", None)
        if client is not None:
            client.close()


def audit_lectures(
    database_url: str,
    store: ObjectStore,
    sources: Mapping[str, str | None],
    *,
    succeeded_kinds: frozenset[str] = SUCCEEDED_KINDS,
) -> list[str]:
    """Every breach of the module's rules by the lectures ``sources`` names (lecture id ->
    SHA-256 of the file uploaded for it, or None for a lecture made without an upload);
    an empty list when there is none. A succeeded lecture must have ``succeeded_kinds``."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            problems: list[str] = []
            for lecture_id, uploaded_sha256 in sources.items():
                problems.extend(
                    _audit(session, store, lecture_id, uploaded_sha256, succeeded_kinds)
                )
            return problems
    finally:
        engine.dispose()


def _audit(
    session: Session,
    store: ObjectStore,
    lecture_id: str,
    uploaded: str | None,
    succeeded_kinds: frozenset[str],
) -> list[str]:
    lecture = session.get(Lecture, lecture_id)
    if lecture is None:
        return [f"lecture {lecture_id}: its row is gone"]
    name = f"lecture {lecture_id} ({lecture.title!r}, {lecture.status})"
    problems = _audit_runs(session, name, lecture)
    artifacts = session.scalars(select(Artifact).where(Artifact.lecture_id == lecture_id)).all()
    kinds = [a.kind for a in artifacts]
    if len(kinds) != len(set(kinds)):
        problems.append(f"{name}: an artifact kind is recorded twice: {sorted(kinds)}")
    if lecture.status == "succeeded" and not succeeded_kinds <= set(kinds):
        problems.append(f"{name}: artifacts missing: {sorted(succeeded_kinds - set(kinds))}")
    for artifact in artifacts:
        problems.extend(_audit_object(store, name, artifact))
    if uploaded is not None:
        problems.extend(_audit_source(name, lecture, artifacts, uploaded))
    stored = sorted(o.key for o in store.list_prefix(lecture_prefix(lecture.course_id, lecture.id)))
    recorded = sorted(a.key for a in artifacts)
    if stored != recorded:
        problems.append(
            f"{name}: stored objects are not one per artifact: "
            f"stored but not recorded {sorted(set(stored) - set(recorded))}, "
            f"recorded but not stored {sorted(set(recorded) - set(stored))}"
        )
    return problems


def _audit_source(
    name: str, lecture: Lecture, artifacts: Sequence[Artifact], uploaded: str
) -> list[str]:
    problems = []
    if lecture.sha256 != uploaded:
        problems.append(f"{name}: the lecture's sha256 {lecture.sha256} is not the upload's")
    source = next((a for a in artifacts if a.kind == SOURCE), None)
    if source is None:
        problems.append(f"{name}: the source recording's artifact row is gone")
    elif source.sha256 != uploaded:
        problems.append(f"{name}: the source row's sha256 {source.sha256} is not the upload's")
    return problems


def _audit_runs(session: Session, name: str, lecture: Lecture) -> list[str]:
    problems: list[str] = []
    if lecture.status not in FINAL_STATUSES:
        problems.append(f"{name}: did not finish")
    runs = session.scalars(
        select(StageRun).where(StageRun.lecture_id == lecture.id).order_by(StageRun.queued_at)
    ).all()
    for run in runs:
        if run.error_code == InternalStageError.code or (
            run.status == "failed" and not run.error_code
        ):
            problems.append(
                f"{name}: {run.stage} attempt {run.attempt} failed without a specific code "
                f"({run.error_code!r}: {run.error_message!r})"
            )
    if lecture.status == "failed":
        final = [r for r in runs if r.status == "failed"]
        if not final:
            problems.append(f"{name}: failed, but no stage run failed")
    return problems


def _audit_object(store: ObjectStore, name: str, artifact: Artifact) -> list[str]:
    where = f"{name}: artifact {artifact.kind} ({artifact.key})"
    try:
        size, sha256 = object_sha256(store, artifact.key)
    except ObjectMissingError:
        return [f"{where}: its object is missing"]
    problems = []
    if sha256 != artifact.sha256:
        problems.append(f"{where}: the object's sha256 {sha256} is not the row's {artifact.sha256}")
    if size != artifact.size_bytes:
        problems.append(
            f"{where}: the object holds {size} bytes, the row says {artifact.size_bytes}"
        )
    return problems
