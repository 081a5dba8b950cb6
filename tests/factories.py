"""Test data: users, courses, lectures and stage runs with sensible defaults.

Each factory adds rows through the session it is given (and flushes, so ids are set) and
never commits: the caller's unit of work decides. Tests say only what matters to them,
e.g. ``make_stage_run(session, lecture, "generate", status="failed", error_code="x")``.

``PipelineHarness`` is the runner's state machine (fake stages, recording dispatcher, fake
clock) on a migrated database (from the ``new_database`` fixture); ``BACKENDS`` parametrizes
a test over both kinds of database.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.accounts.service import create_user
from pegasus.config import DatabaseSettings, QueueSettings, Settings
from pegasus.courses.service import create_course, resolve_preset, sync_builtin_presets
from pegasus.db.base import utcnow
from pegasus.db.models import Course, Lecture, StageName, StageRun, User
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import PegasusError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline import transitions
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.runner import StageRunner
from pegasus.search.repository import index_transcript
from pegasus.storage.local import LocalObjectStore
from pegasus.testing import FakeClock, RecordingDispatcher

PASSWORD = "correct horse battery staple"
#: The database kinds the state machine must behave the same on, as pytest parameters.
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]

_serial = itertools.count(1)


def _next() -> int:
    return next(_serial)


# --- rows ------------------------------------------------------------------------------------


def make_user(
    session: Session, email: str | None = None, *, admin: bool = False, password: str = PASSWORD
) -> User:
    """A user (through the accounts service, so the password is hashed as in production)."""
    return create_user(session, email or f"user{_next()}@example.org", password, is_admin=admin)


def make_course(session: Session, owner: User | None = None, name: str | None = None) -> Course:
    """A course, owned by a new user unless ``owner`` is given."""
    owner = owner or make_user(session)
    return create_course(session, owner.id, name or f"Course {_next()}")


def make_lecture(
    session: Session,
    course: Course | None = None,
    *,
    title: str | None = None,
    status: str = "queued",
    preset_key: str = "quick-review",
    finished_at: datetime | None = None,
) -> Lecture:
    """A lecture row in ``course`` (a new course unless given), owned by the course's owner."""
    course = course or make_course(session)
    lecture = Lecture(
        course_id=course.id,
        owner_id=course.owner_id,
        title=title or f"Lecture {_next()}",
        preset_key=preset_key,
        status=status,
        finished_at=finished_at,
    )
    session.add(lecture)
    session.flush()
    return lecture


def make_stage_run(
    session: Session,
    lecture: Lecture,
    stage: str,
    *,
    attempt: int = 1,
    status: str = "succeeded",
    error_code: str | None = None,
    error_message: str | None = None,
    seconds: float = 2.0,
    finished_at: datetime | None = None,
    available_at: datetime | None = None,
) -> StageRun:
    """A stage run of ``lecture``; a finished one (the default) took ``seconds``, a queued
    one is due at ``available_at`` (default: now)."""
    end = finished_at or utcnow()
    finished = status in ("succeeded", "failed")
    run = StageRun(
        lecture_id=lecture.id,
        stage=stage,
        attempt=attempt,
        status=status,
        error_code=error_code,
        error_message=error_message or ("it broke" if error_code else None),
        queued_at=end - timedelta(seconds=seconds + 8),
        available_at=available_at or end,
        started_at=None if status == "queued" else end - timedelta(seconds=seconds),
        finished_at=end if finished else None,
    )
    session.add(run)
    session.flush()
    return run


# --- the pipeline state machine ---------------------------------------------------------------

#: What kind of artifact each fake stage writes (the real stages' kinds where it matters).
ARTIFACT_KINDS = {"transcribe": "transcript", "generate": "kit"}


class ScriptedStage:
    """Raises the scripted errors in order, then succeeds with one artifact."""

    def __init__(self, name: str, errors: list[PegasusError] | None = None) -> None:
        self.name = name
        self.errors = list(errors or [])
        self.calls = 0

    def run(self, ctx: StageContext) -> StageResult:
        self.calls += 1
        ctx.report_progress(0.5, "halfway")
        if self.errors:
            raise self.errors.pop(0)
        stored = ctx.store.put_bytes(ctx.key(f"{self.name}.txt"), self.name.encode())
        kind = ARTIFACT_KINDS.get(self.name, self.name)
        return StageResult(
            artifacts=[ArtifactOut(kind=kind, stored=stored, content_type="text/plain")],
            duration_seconds=12.5 if self.name == "ingest" else None,
        )


class PipelineHarness:
    """A StageRunner over fake stages on a migrated database at ``database_url``, with one
    lecture whose ingest run is queued (its message waits in ``dispatcher``)."""

    def __init__(self, database_url: str, tmp_path: Path, *, threads: int = 1) -> None:
        self.settings = Settings(
            database=DatabaseSettings(url=SecretStr(database_url)),
            queue=QueueSettings(max_attempts=3, lease_seconds=30),
        )
        self.engine = build_engine(self.settings.database, threads=threads)
        self.factory: sessionmaker[Session] = build_session_factory(self.engine)
        self.clock = FakeClock()
        self.dispatcher = RecordingDispatcher()
        self.store = LocalObjectStore(tmp_path / f"objects-{_next()}")
        self.stages: dict[str, ScriptedStage] = {s.value: ScriptedStage(s.value) for s in StageName}
        self.metrics = PipelineMetrics(CollectorRegistry())
        self.runner = StageRunner(
            queue=self.settings.queue,
            session_factory=self.factory,
            store=self.store,
            dispatcher=self.dispatcher,
            stages=self.stages,
            metrics=self.metrics,
            resolve_preset=resolve_preset,
            on_transcript=index_transcript,
            clock=self.clock,
            rng=random.Random(7),
        )
        with unit_of_work(self.factory) as session:
            sync_builtin_presets(session)
            owner = make_user(session, "runner@example.org")
            self.owner_id = owner.id
            lecture = make_lecture(session, make_course(session, owner), title="T")
            transitions.queue_stage(
                session, self.dispatcher, lecture, StageName.INGEST, now=self.clock()
            )
            self.lecture_id = lecture.id

    def close(self) -> None:
        self.engine.dispose()

    def drain(self, limit: int = 20) -> None:
        """Run whatever was sent, in order, ignoring delays, until nothing is left."""
        for _ in range(limit):
            sent = self.dispatcher.take()
            if not sent:
                return
            for stage_run_id, _delay in sent:
                self.runner.run(stage_run_id)
        raise AssertionError("the pipeline did not settle")

    def runs(self) -> list[tuple[str, int, str, str | None]]:
        """(stage, attempt, status, error code) of every run, in pipeline order."""
        with unit_of_work(self.factory) as session:
            rows = session.scalars(
                select(StageRun).where(StageRun.lecture_id == self.lecture_id)
            ).all()
            order = list(StageName)
            rows = sorted(rows, key=lambda r: (order.index(StageName(r.stage)), r.attempt))
            return [(r.stage, r.attempt, r.status, r.error_code) for r in rows]

    def lecture(self) -> Lecture:
        with unit_of_work(self.factory) as session:
            lecture = session.get(Lecture, self.lecture_id)
            assert lecture is not None
            return lecture
