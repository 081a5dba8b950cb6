"""Storage and the database never disagree, on both columns (SQLite with the local store,
PostgreSQL with S3 served by moto): after a commit that FAILS, of an upload and of a review
edit, there is no orphaned object, every artifact row's key, size and SHA-256 describe the
bytes stored there, and the previous version is still what readers get.

The commit fails honestly: just before it commits, the chosen transaction inserts a second
artifact row for a (lecture, kind) that has one, and the database refuses it
(``uq_artifacts_lecture_kind``), so ``commit()`` raises and the unit of work rolls back.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from pegasus.accounts.service import create_token, create_user
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.courses.service import sync_builtin_presets
from pegasus.db.base import new_id, utcnow
from pegasus.db.models import Artifact, Lecture, StageRun, Upload
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import ObjectMissingError
from pegasus.exports import render_export
from pegasus.lectures import review, service
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.export import ExportStage
from pegasus.pipeline.generate import KIT, GenerateStage
from pegasus.pipeline.transcribe import TRANSCRIPT, TRANSCRIPT_NAME
from pegasus.runtime import build_runtime
from pegasus.storage.base import ObjectStore
from pegasus.storage.s3 import S3ObjectStore
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript
from pegasus.uploads.schemas import UploadRequest
from pegasus.uploads.service import UploadLimits, create_upload
from tests.factories import PipelineHarness, make_course
from tests.transcripts import LECTURE, make_transcript

#: The two columns of the design: (database, store).
COLUMNS = [
    pytest.param(("sqlite", "local"), id="sqlite-local"),
    pytest.param(("postgresql", "s3"), id="postgresql-s3", marks=pytest.mark.postgres),
]
S3_KEYS = {"access_key_id": "testing", "secret_access_key": "testing-secret"}


def _bucket() -> str:
    return f"pegasus-{uuid.uuid4().hex[:12]}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FailingCommit:
    """Makes the commit of each transaction that ``chosen`` picks fail with a real error
    from the database: a duplicate artifact row for the (lecture, kind) it names."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        chosen: Callable[[Session], tuple[str, str] | None],
    ) -> None:
        self._factory = factory
        self._chosen = chosen
        self.failed = 0
        event.listen(factory, "before_commit", self._before_commit)

    def _before_commit(self, session: Session) -> None:
        target = self._chosen(session)
        if target is None:
            return
        self.failed += 1
        lecture_id, kind = target
        session.execute(
            insert(Artifact).values(
                id=new_id(),
                lecture_id=lecture_id,
                kind=kind,
                key="a-duplicate-row",
                content_type="text/plain",
                size_bytes=0,
                sha256="",
                version=1,
                created_at=utcnow(),
            )
        )

    def remove(self) -> None:
        event.remove(self._factory, "before_commit", self._before_commit)


def assert_rows_describe_objects(factory: sessionmaker[Session], store: ObjectStore) -> set[str]:
    """Every artifact row's object is stored with the row's size and SHA-256 (what a backup
    verifies); the rows' keys."""
    with unit_of_work(factory) as session:
        rows = [(a.kind, a.key, a.size_bytes, a.sha256) for a in session.scalars(select(Artifact))]
    for kind, key, size, sha256 in rows:
        data = store.get_bytes(key)
        assert (len(data), _sha256(data)) == (size, sha256), (kind, key)
    return {key for _, key, _, _ in rows}


def assert_storage_agrees(factory: sessionmaker[Session], store: ObjectStore) -> None:
    """Rows describe their objects, and every stored object of a lecture is some row's
    object (no orphan)."""
    keys = assert_rows_describe_objects(factory, store)
    stored = {o.key for o in store.list_prefix("courses/")}
    assert stored == keys, stored ^ keys


# --- an upload (the multipart route, through the app) --------------------------------------


@dataclass
class App:
    client: TestClient
    store: ObjectStore
    factory: sessionmaker[Session]
    headers: dict[str, str]


@pytest.fixture(params=COLUMNS)
def app(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[App]:
    database, backend = request.param
    storage = (
        StorageSettings(root=tmp_path / "objects")
        if backend == "local"
        else StorageSettings(
            backend="s3",
            s3_bucket=_bucket(),
            s3_endpoint_url=request.getfixturevalue("s3_endpoint"),
            s3_access_key_id=SecretStr(S3_KEYS["access_key_id"]),
            s3_secret_access_key=SecretStr(S3_KEYS["secret_access_key"]),
            s3_create_bucket=True,
        )
    )
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(new_database(database))),
        storage=storage,
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'queue.db'}"),
        server=ServerSettings(run_consumer=False),
    )
    runtime = build_runtime(settings)
    with unit_of_work(runtime.session_factory) as session:
        create_user(session, "keeper@example.org", "a long enough password")
        headers = {"Authorization": f"Bearer {create_token(session, 'keeper@example.org')}"}
    with TestClient(create_app(settings, runtime)) as client:
        yield App(client, runtime.store, runtime.session_factory, headers)
    runtime.close()


def _new_source(known: set[str]) -> Callable[[Session], tuple[str, str] | None]:
    """Picks the transaction that recorded a lecture not in ``known``."""

    def chosen(session: Session) -> tuple[str, str] | None:
        ids = session.scalars(select(Artifact.lecture_id).where(Artifact.kind == "source"))
        new = [lecture_id for lecture_id in ids if lecture_id not in known]
        return (new[0], "source") if new else None

    return chosen


@pytest.mark.parametrize("size", [4096, 9 * 1024 * 1024], ids=["one-put", "s3-multipart-sized"])
def test_an_upload_whose_commit_fails_leaves_no_object_behind(app: App, size: int) -> None:
    course = app.client.post("/api/v1/courses", json={"name": "Bio"}, headers=app.headers)
    assert course.status_code == 201, course.text
    url = f"/api/v1/courses/{course.json()['id']}/lectures"
    data = random.Random(size).randbytes(size)  # the ingest stage, not the upload, judges it
    sabotage = FailingCommit(app.factory, _new_source(set()))
    # (Logs captured, not rendered: a traceback with its locals takes seconds to print.)
    try:
        with capture_logs() as logs, pytest.raises(IntegrityError):  # the server's 500
            app.client.post(
                url, files={"file": ("week1.m4a", data, "audio/mp4")}, headers=app.headers
            )
    finally:
        sabotage.remove()

    assert sabotage.failed == 1
    with unit_of_work(app.factory) as session:
        assert session.scalars(select(Lecture.id)).all() == []
    assert list(app.store.list_prefix("")) == [], "the stored upload outlived its rollback"
    assert [e["reason"] for e in logs if e["event"] == "storage.object.discarded"] == [
        "rolled back"
    ]

    # The same upload once the database commits: stored once, and the row describes it.
    accepted = app.client.post(
        url, files={"file": ("week1.m4a", data, "audio/mp4")}, headers=app.headers
    )
    assert accepted.status_code == 202, accepted.text
    assert_storage_agrees(app.factory, app.store)
    with unit_of_work(app.factory) as session:
        (source,) = session.scalars(select(Artifact)).all()
        assert (source.size_bytes, source.sha256) == (size, _sha256(data))
        assert source.lecture_id == accepted.json()["id"]


@pytest.mark.parametrize(
    "database",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def test_a_resumable_upload_whose_creation_fails_to_commit_leaves_no_multipart_upload(
    database: str, new_database: Callable[[str], str], s3_endpoint: str
) -> None:
    """Creating a tus upload starts an S3 multipart upload (no object, so no listing shows
    it) before its row commits; a failed commit aborts it again."""
    engine = build_engine(DatabaseSettings(url=SecretStr(new_database(database))))
    factory = build_session_factory(engine)
    store = S3ObjectStore(
        _bucket(),
        endpoint_url=s3_endpoint,
        create_bucket=True,
        access_key_id=S3_KEYS["access_key_id"],
        secret_access_key=S3_KEYS["secret_access_key"],
    )
    store.check()
    with unit_of_work(factory) as session:
        sync_builtin_presets(session)
        course = make_course(session)
        owner_id, course_id = course.owner_id, course.id
    request = UploadRequest(
        length=100, course_id=course_id, preset=None, title=None, filename="a.m4a", filetype=None
    )
    limits = UploadLimits(max_bytes=1000, expire=timedelta(hours=1), lease=timedelta(minutes=1))

    def duplicate_upload(session: Session) -> None:
        ids = session.scalars(select(Upload.id)).all()
        if ids:  # the upload's own row again: a primary key the database refuses
            session.execute(
                text("INSERT INTO uploads SELECT * FROM uploads WHERE id = :id"), {"id": ids[0]}
            )

    event.listen(factory, "before_commit", duplicate_upload)
    try:
        with pytest.raises(IntegrityError), unit_of_work(factory) as session:
            create_upload(
                session, store, owner_id=owner_id, request=request, limits=limits, now=utcnow()
            )
    finally:
        event.remove(factory, "before_commit", duplicate_upload)
        engine.dispose()

    client = store._client  # behind the store's back: unfinished multipart uploads
    assert client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert list(store.list_prefix("")) == []


# --- review edits (the service the routes call, in a unit of work like a request's) ---------


class StoredTranscriptStage:
    """Stands in for transcribe: stores the photosynthesis transcript as the real one does."""

    name = "transcribe"

    def run(self, ctx: StageContext) -> StageResult:
        transcript = make_transcript(LECTURE)
        stored = ctx.store.put_bytes(
            ctx.output_key(TRANSCRIPT, TRANSCRIPT_NAME),
            transcript.model_dump_json().encode(),
            content_type="application/json",
        )
        return StageResult(
            artifacts=[
                ArtifactOut(kind=TRANSCRIPT, stored=stored, content_type="application/json")
            ],
            transcript=transcript,
        )


@pytest.fixture(params=COLUMNS)
def processed(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[PipelineHarness]:
    """A lecture through the pipeline: a known transcript, then the real generate and export
    stages, on the column's database and store."""
    database, backend = request.param
    h = PipelineHarness(new_database(database), tmp_path)
    if backend == "s3":
        s3 = S3ObjectStore(
            _bucket(),
            endpoint_url=request.getfixturevalue("s3_endpoint"),
            create_bucket=True,
            access_key_id=S3_KEYS["access_key_id"],
            secret_access_key=S3_KEYS["secret_access_key"],
        )
        s3.check()
        h.store = h.runner.store = s3  # type: ignore[assignment]
    h.runner.stages = {
        **h.stages,
        "transcribe": StoredTranscriptStage(),
        "generate": GenerateStage(),
        "export": ExportStage(),
    }
    h.drain()
    assert h.lecture().status == "succeeded"
    assert_storage_agrees(h.factory, h.store)
    yield h
    h.close()


@dataclass(frozen=True)
class Row:
    key: str
    size_bytes: int
    sha256: str
    version: int


def _row(h: PipelineHarness, kind: str) -> Row:
    with unit_of_work(h.factory) as session:
        row = session.scalar(
            select(Artifact).where(Artifact.lecture_id == h.lecture_id, Artifact.kind == kind)
        )
        assert row is not None
        return Row(row.key, row.size_bytes, row.sha256, row.version)


def _edited(h: PipelineHarness, kind: str, committed: Row) -> Callable[[Session], Any]:
    """Picks the transaction that edits ``kind`` (an edit bumps the row's version first)."""

    def chosen(session: Session) -> tuple[str, str] | None:
        version = session.scalar(
            select(Artifact.version).where(
                Artifact.lecture_id == h.lecture_id, Artifact.kind == kind
            )
        )
        return (h.lecture_id, kind) if version != committed.version else None

    return chosen


def _objects_named(h: PipelineHarness, stem: str) -> list[str]:
    return [
        o.key for o in h.store.list_prefix("courses/") if o.key.rsplit("/", 1)[1].startswith(stem)
    ]


def test_a_segment_edit_whose_commit_fails_keeps_the_previous_version(
    processed: PipelineHarness,
) -> None:
    h = processed
    before = _row(h, TRANSCRIPT)
    sabotage = FailingCommit(h.factory, _edited(h, TRANSCRIPT, before))
    try:
        with pytest.raises(IntegrityError), unit_of_work(h.factory) as session:
            review.edit_segment(
                session, h.store, h.owner_id, h.lecture_id, 1, "Today we study xylophytes."
            )
    finally:
        sabotage.remove()

    assert sabotage.failed == 1
    assert _row(h, TRANSCRIPT) == before
    assert _objects_named(h, "transcript") == [before.key]  # the new version is gone
    assert_storage_agrees(h.factory, h.store)
    with unit_of_work(h.factory) as session:
        kept = service.read_transcript(session, h.store, h.owner_id, h.lecture_id)
    assert kept.segments[1].text == make_transcript(LECTURE).segments[1].text
    assert not kept.segments[1].edited

    # The same edit once the database commits: a new key, the old version removed.
    with unit_of_work(h.factory) as session:
        review.edit_segment(
            session, h.store, h.owner_id, h.lecture_id, 1, "Today we study xylophytes."
        )
    after = _row(h, TRANSCRIPT)
    assert after.key != before.key
    assert f"transcript.v{before.version + 1}-" in after.key
    assert _objects_named(h, "transcript") == [after.key]
    assert_storage_agrees(h.factory, h.store)
    with unit_of_work(h.factory) as session:
        edited = service.read_transcript(session, h.store, h.owner_id, h.lecture_id)
    assert edited.segments[1].text == "Today we study xylophytes."


def test_a_flashcard_edit_whose_commit_fails_keeps_the_previous_kit(
    processed: PipelineHarness,
) -> None:
    h = processed
    before = _row(h, KIT)
    original = StudyKit.model_validate_json(h.store.get_bytes(before.key))
    card = original.flashcards[0]
    ref = review.ItemRef(h.owner_id, h.lecture_id, card.id)
    sabotage = FailingCommit(h.factory, _edited(h, KIT, before))
    try:
        with pytest.raises(IntegrityError), unit_of_work(h.factory) as session:
            review.edit_item(session, h.store, "flashcards", ref, {"back": "In my own words"})
    finally:
        sabotage.remove()

    assert sabotage.failed == 1
    assert _row(h, KIT) == before
    assert _objects_named(h, "study-kit") == [before.key]
    assert_storage_agrees(h.factory, h.store)
    with unit_of_work(h.factory) as session:
        kept = review.read_kit(session, h.store, h.owner_id, h.lecture_id)
    assert kept.flashcards[0].back == card.back

    with unit_of_work(h.factory) as session:
        review.edit_item(session, h.store, "flashcards", ref, {"back": "In my own words"})
    assert _objects_named(h, "study-kit") == [_row(h, KIT).key] != [before.key]
    assert_storage_agrees(h.factory, h.store)

    # A regenerate writes the kit and exports beside the rows' objects, switches the rows in
    # the runner's commit and removes what they replaced; the edit survives.
    with unit_of_work(h.factory) as session:
        review.regenerate(session, h.dispatcher, h.owner_id, h.lecture_id)
    h.drain()
    assert h.lecture().status == "succeeded"
    assert_storage_agrees(h.factory, h.store)
    with unit_of_work(h.factory) as session:
        regenerated = review.read_kit(session, h.store, h.owner_id, h.lecture_id)
    assert {c.id: c.back for c in regenerated.flashcards}[card.id] == "In my own words"


def test_a_regenerate_whose_final_commit_fails_leaves_the_rows_objects_untouched(
    processed: PipelineHarness,
) -> None:
    """The export stage rewrites every export while the rows point to them: it writes the
    new versions beside the old ones, so when the runner's commit fails the rows still
    describe the objects a download gets."""
    h = processed

    def export_recorded(session: Session) -> tuple[str, str] | None:
        done = session.scalar(
            select(StageRun.id).where(
                StageRun.stage == "export", StageRun.attempt == 2, StageRun.status == "succeeded"
            )
        )
        return (h.lecture_id, "export.md") if done else None

    with unit_of_work(h.factory) as session:
        review.regenerate(session, h.dispatcher, h.owner_id, h.lecture_id)
    sabotage = FailingCommit(h.factory, export_recorded)
    try:
        h.drain()
    finally:
        sabotage.remove()

    assert sabotage.failed == 1
    assert [run for run in h.runs() if run[0] == "export"] == [
        ("export", 1, "succeeded", None),
        ("export", 2, "failed", "internal.error"),
    ]
    keys = assert_rows_describe_objects(h.factory, h.store)
    leftovers = {o.key for o in h.store.list_prefix("courses/")} - keys
    assert leftovers  # the unrecorded attempt's exports: the sweeper's to remove
    assert all(".v2." in key.rsplit("/", 1)[1] for key in leftovers), leftovers


# --- a missing export is rebuilt from the transcript ----------------------------------------


def test_a_missing_export_is_rebuilt_from_the_transcript_and_kit(
    processed: PipelineHarness,
) -> None:
    h = processed
    before = _row(h, "export.md")
    h.store.delete(before.key)

    with unit_of_work(h.factory) as session:
        export, handle = service.open_export(session, h.store, h.owner_id, h.lecture_id, "md")
        with handle:
            served = handle.read()

    transcript_row, kit_row = _row(h, TRANSCRIPT), _row(h, KIT)
    expected = render_export(
        "md",
        title="T",
        transcript=Transcript.model_validate_json(h.store.get_bytes(transcript_row.key)),
        kit=StudyKit.model_validate_json(h.store.get_bytes(kit_row.key)),
        lecture_id=h.lecture_id,
    )
    assert served == expected
    after = _row(h, "export.md")
    assert export.key == after.key != before.key
    assert (after.size_bytes, after.sha256) == (len(expected), _sha256(expected))
    assert_storage_agrees(h.factory, h.store)


def test_an_export_that_cannot_be_rebuilt_is_object_missing(processed: PipelineHarness) -> None:
    h = processed
    h.store.delete(_row(h, "export.csv").key)
    h.store.delete(_row(h, TRANSCRIPT).key)

    with pytest.raises(ObjectMissingError) as caught, unit_of_work(h.factory) as session:
        service.open_export(session, h.store, h.owner_id, h.lecture_id, "csv")
    assert caught.value.code == "storage.object_missing"
