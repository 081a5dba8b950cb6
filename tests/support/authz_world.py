"""The world the authorization matrix (tests/integration/test_authorization_matrix.py) calls
routes in: the real app on a migrated SQLite database and a local store, three people (an
owner, another user, an admin) with API tokens, and the owner's things for path parameters:
a course, a lecture that went through the pipeline (the real generate and export stages over
a known transcript, so review, study and export routes have something to return) and a tus
upload.

Routes that destroy what they are called on (revoke, delete, end a session, disable, retry,
regenerate) get a fresh thing of the owner's for every call from the ``fresh_*`` methods, and
every call signs in with a fresh browser session (``cookie``), so no call spoils another.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from pegasus.accounts.invitations import INVITATION_PREFIX
from pegasus.accounts.security import hash_password, hash_token, mint_token
from pegasus.accounts.web_sessions import handle_of_token
from pegasus.app import create_app
from pegasus.config import (
    DatabaseSettings,
    OpsSettings,
    QueueSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from pegasus.courses.service import resolve_preset, sync_builtin_presets
from pegasus.db.base import utcnow
from pegasus.db.models import (
    ApiToken,
    Artifact,
    Course,
    Invitation,
    Lecture,
    User,
    WebSession,
)
from pegasus.db.session import unit_of_work
from pegasus.lectures.service import Upload, create_lecture
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.export import ExportStage
from pegasus.pipeline.generate import GenerateStage
from pegasus.pipeline.runner import StageRunner
from pegasus.pipeline.transcribe import TRANSCRIPT, TRANSCRIPT_NAME
from pegasus.runtime import Runtime, build_runtime
from pegasus.search.repository import index_transcript
from pegasus.testing import RecordingDispatcher
from pegasus.uploads.schemas import UploadRequest
from pegasus.uploads.service import UploadLimits, create_upload
from pegasus_testkit.databases import TEMPLATES
from tests.factories import PASSWORD, ScriptedStage, make_course, make_lecture, make_stage_run
from tests.transcripts import LECTURE, make_transcript

#: The Alertmanager webhook's shared secret in this world (not a user's token).
WEBHOOK_SECRET = "authz-matrix-webhook-" + secrets.token_hex(8)
#: The word the owner's transcript has and search finds.
SEARCH_WORD = "chlorophyll"
#: A well-formed id that nothing has.
NOBODY = "00000000-0000-4000-8000-000000000000"
#: Bytes stored as the owner's recording (served by the audio route; never decoded here).
RECORDING = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)


@dataclass(frozen=True)
class Account:
    """One person: who they are and an API token of theirs that stays valid."""

    name: str
    user_id: str
    email: str
    token: str


@dataclass(frozen=True)
class Cookie:
    """A fresh browser sign-in: the session cookie's value and its CSRF token."""

    value: str
    csrf: str


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


class World:
    """The app (``client``), its people and the owner's things; see the module docstring."""

    def __init__(self, app: FastAPI, client: TestClient, runtime: Runtime) -> None:
        self.app = app
        self.client = client
        self.runtime = runtime
        self.factory = runtime.session_factory
        self._password_hash = hash_password(PASSWORD)
        with unit_of_work(self.factory) as session:
            sync_builtin_presets(session)
        self.owner = self._account("owner")
        self.other = self._account("other")
        self.admin = self._account("admin", admin=True)
        with unit_of_work(self.factory) as session:
            owner = session.get(User, self.owner.user_id)
            assert owner is not None
            self.course_id = make_course(session, owner, "Authz biology").id
        self.lecture_id = self._processed_lecture()
        self.upload_id = self.fresh_upload()
        self.token_id = self.fresh_token_id(self.owner)

    # --- people, their tokens and sign-ins: plain rows (the schema is fixed; the services
    # that make them also write audit entries, which no call here needs) -------------------

    def _user(self, email: str, *, admin: bool = False, disabled: bool = False) -> str:
        with unit_of_work(self.factory) as session:
            user = User(
                email=email,
                password_hash=self._password_hash,  # PASSWORD, hashed once for everyone
                is_admin=admin,
                disabled_at=utcnow() if disabled else None,
            )
            session.add(user)
            session.flush()
            return user.id

    def _token(self, user_id: str, name: str) -> tuple[str, str]:
        """A new API token of ``user_id``'s: (its id, the secret)."""
        minted = mint_token()
        with unit_of_work(self.factory) as session:
            row = ApiToken(
                user_id=user_id,
                name=name,
                token_hash=minted.digest,
                prefix=minted.prefix,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return row.id, minted.secret

    def _account(self, name: str, *, admin: bool = False) -> Account:
        email = f"{name}@authz.example.org"
        user_id = self._user(email, admin=admin)
        _id, secret = self._token(user_id, "matrix")
        return Account(name=name, user_id=user_id, email=email, token=secret)

    def cookie(self, account: Account) -> Cookie:
        """A new browser session of ``account``'s, as a sign-in through /login makes."""
        value, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
        with unit_of_work(self.factory) as session:
            session.add(
                WebSession(
                    id=hash_token(value),
                    user_id=account.user_id,
                    csrf_token=csrf,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
        return Cookie(value=value, csrf=csrf)

    def fresh_victim(self, *, disabled: bool = False) -> str:
        """A user an admin route may disable or enable (never one of the three)."""
        return self._user(f"victim-{secrets.token_hex(6)}@authz.example.org", disabled=disabled)

    def fresh_email(self) -> str:
        return f"new-{secrets.token_hex(6)}@authz.example.org"

    # --- the owner's things, fresh for each destructive call --------------------------------

    def fresh_token_id(self, account: Account) -> str:
        """The id of a new API token of ``account``'s (to be revoked)."""
        return self._token(account.user_id, "spare")[0]

    def fresh_session_handle(self, account: Account) -> str:
        """The handle the account page names a new session of ``account``'s by."""
        return handle_of_token(self.cookie(account).value)

    def fresh_invitation(self) -> tuple[str, str]:
        """A new invitation the admin made: (its id, the token of its link)."""
        token, now = INVITATION_PREFIX + secrets.token_urlsafe(32), utcnow()
        with unit_of_work(self.factory) as session:
            invitation = Invitation(
                token_hash=hash_token(token),
                created_by=self.admin.user_id,
                is_admin=False,
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
            session.add(invitation)
            session.flush()
            return invitation.id, token

    def fresh_upload(self) -> str:
        """A new, unfinished tus upload of the owner's into the owner's course."""
        request = UploadRequest(
            length=1000,
            course_id=self.course_id,
            preset=None,
            title="Spare upload",
            filename="spare.wav",
            filetype="audio/wav",
        )
        with unit_of_work(self.factory) as session:
            upload = create_upload(
                session,
                self.runtime.store,
                owner_id=self.owner.user_id,
                request=request,
                limits=UploadLimits.from_settings(self.runtime.settings),
                now=utcnow(),
            )
            return upload.id

    def fresh_course(self) -> str:
        """A new, empty course of the owner's (to be deleted)."""
        with unit_of_work(self.factory) as session:
            owner = session.get(User, self.owner.user_id)
            assert owner is not None
            return make_course(session, owner, "Spare course").id

    def fresh_lecture(self) -> str:
        """A new lecture of the owner's, queued, with nothing stored (to be deleted)."""
        with unit_of_work(self.factory) as session:
            return self._lecture_row(session, "queued").id

    @cached_property
    def deletion_id(self) -> str:
        """A completed deletion of the owner's (a spare lecture), made through the API on
        first use: its purge runs as the response's background task."""
        deleted = self.client.delete(
            f"/api/v1/lectures/{self.fresh_lecture()}",
            headers={"Authorization": f"Bearer {self.owner.token}"},
        )
        assert deleted.status_code == 202, deleted.text
        deletion_id = str(deleted.json()["id"])
        shown = self.client.get(
            f"/api/v1/deletions/{deletion_id}",
            headers={"Authorization": f"Bearer {self.owner.token}"},
        )
        assert shown.json()["status"] == "completed", shown.text
        return deletion_id

    def fresh_failed_lecture(self) -> str:
        """A lecture of the owner's whose transcribe stage failed (retry has work to do)."""
        with unit_of_work(self.factory) as session:
            lecture = self._lecture_row(session, "failed")
            make_stage_run(session, lecture, "ingest")
            make_stage_run(session, lecture, "transcribe", status="failed", error_code="x")
            return lecture.id

    def fresh_finished_lecture(self) -> str:
        """A succeeded lecture of the owner's with a transcript (regenerate has work to do)."""
        with unit_of_work(self.factory) as session:
            lecture = self._lecture_row(session, "succeeded")
            main = session.scalar(
                select(Artifact).where(
                    Artifact.lecture_id == self.lecture_id, Artifact.kind == TRANSCRIPT
                )
            )
            assert main is not None
            session.add(
                Artifact(
                    lecture_id=lecture.id,
                    kind=TRANSCRIPT,
                    key=main.key,
                    content_type=main.content_type,
                    size_bytes=main.size_bytes,
                    sha256=main.sha256,
                )
            )
            return lecture.id

    def _lecture_row(self, session: Session, status: str) -> Lecture:
        course = session.get(Course, self.course_id)
        assert course is not None
        finished = utcnow() if status in ("succeeded", "failed") else None
        return make_lecture(session, course, status=status, finished_at=finished)

    def kit_item(self, collection: str, *, skip: str | None = None) -> str:
        """The id of an item of the owner's kit (``flashcards`` or ``quiz``), read now: the
        first one that is not ``skip`` (deletes take a different item each time)."""
        kit = self.client.get(
            f"/api/v1/lectures/{self.lecture_id}/kit",
            headers={"Authorization": f"Bearer {self.owner.token}"},
        )
        assert kit.status_code == 200, kit.text
        ids = [item["id"] for item in kit.json()[collection] if item["id"] != skip]
        assert ids, f"the owner's kit has no {collection} left"
        return str(ids[0])

    # --- the processed lecture --------------------------------------------------------------

    def _processed_lecture(self) -> str:
        """The owner's lecture (exam-prep: flashcards and a quiz), uploaded and run through
        the pipeline: a stand-in ingest and transcribe, the real generate and export."""
        dispatcher = RecordingDispatcher()
        with unit_of_work(self.factory) as session:
            lecture = create_lecture(
                session,
                self.runtime.store,
                dispatcher,
                owner_id=self.owner.user_id,
                course_id=self.course_id,
                title="Photosynthesis",
                preset_key="exam-prep",
                upload=Upload(
                    filename="photosynthesis.wav",
                    content_type="audio/wav",
                    stream=io.BytesIO(RECORDING),
                ),
                max_bytes=self.runtime.settings.media.max_upload_bytes,
            )
            lecture_id = lecture.id
        runner = StageRunner(
            queue=self.runtime.settings.queue,
            session_factory=self.factory,
            store=self.runtime.store,
            dispatcher=dispatcher,
            stages={
                "ingest": ScriptedStage("ingest"),
                "transcribe": StoredTranscriptStage(),
                "generate": GenerateStage(),
                "export": ExportStage(),
            },
            metrics=PipelineMetrics(CollectorRegistry()),
            resolve_preset=resolve_preset,
            on_transcript=index_transcript,
        )
        for _ in range(20):
            sent = dispatcher.take()
            if not sent:
                break
            for stage_run_id, _delay in sent:
                runner.run(stage_run_id)
        with unit_of_work(self.factory) as session:
            done = session.get(Lecture, lecture_id)
            assert done is not None
            assert done.status == "succeeded", done.status
        return lecture_id


@contextmanager
def authz_world(root: Path) -> Iterator[World]:
    """The world on a fresh database cloned from the suite's migrated SQLite template."""
    url = TEMPLATES.new("sqlite", root)
    try:
        settings = Settings(
            database=DatabaseSettings(url=SecretStr(url)),
            storage=StorageSettings(root=root / "objects"),
            queue=QueueSettings(url=f"sqlite:///{root / 'queue.db'}"),
            server=ServerSettings(run_consumer=False),
            ops=OpsSettings(alert_webhook_secret=SecretStr(WEBHOOK_SECRET)),
        )
        runtime = build_runtime(settings)
        app = create_app(settings, runtime)
        with TestClient(app) as client:
            yield World(app, client, runtime)
    finally:
        TEMPLATES.drop(url)
