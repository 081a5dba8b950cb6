"""A multipart upload taken in as a lecture (``lectures.intake``): stored, queued, counted."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import DatabaseSettings
from pegasus.courses.service import sync_builtin_presets
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.errors import UnknownPresetError
from pegasus.lectures.intake import accept_upload
from pegasus.observability.metrics import PipelineMetrics
from pegasus.storage.local import LocalObjectStore
from pegasus.testing import RecordingDispatcher
from tests.factories import make_course

AUDIO = b"RIFF not really a wav, the ingest stage decides that"


@dataclass
class Part:
    """A multipart file part, as Starlette's UploadFile offers it."""

    filename: str | None
    content_type: str | None = "audio/wav"
    file: BinaryIO = field(default_factory=lambda: io.BytesIO(AUDIO))


@dataclass
class World:
    factory: sessionmaker[Session]
    store: LocalObjectStore
    dispatcher: RecordingDispatcher
    metrics: PipelineMetrics
    registry: CollectorRegistry
    owner_id: str
    course_id: str

    def accept(self, session: Session, part: Part, preset: str = "quick-review") -> str:
        lecture = accept_upload(
            session,
            self.store,
            self.dispatcher,
            self.metrics,
            owner_id=self.owner_id,
            course_id=self.course_id,
            file=part,
            title=None,
            preset=preset,
            max_bytes=1024,
        )
        assert [run.stage for run in lecture.stage_runs] == ["ingest"]  # loaded for the answer
        return lecture.id

    def counted(self, outcome: str) -> float | None:
        return self.registry.get_sample_value("pegasus_ingest_requests_total", {"outcome": outcome})


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[World]:
    engine = build_engine(DatabaseSettings(url=SecretStr(sqlite_url)))
    factory = build_session_factory(engine)
    with unit_of_work(factory) as session:
        sync_builtin_presets(session)
        course = make_course(session)
        ids = (course.owner_id, course.id)
    registry = CollectorRegistry()
    yield World(
        factory,
        LocalObjectStore(tmp_path / "objects"),
        RecordingDispatcher(),
        PipelineMetrics(registry),
        registry,
        *ids,
    )
    engine.dispose()


def test_an_upload_is_stored_queued_and_counted_as_accepted(world: World) -> None:
    with unit_of_work(world.factory) as session:
        lecture_id = world.accept(session, Part("Week 1.wav"))

    (stored,) = list(world.store.list_prefix(f"courses/{world.course_id}/lectures/{lecture_id}/"))
    assert world.store.get_bytes(stored.key) == AUDIO
    assert len(world.dispatcher.take()) == 1
    assert (world.counted("accepted"), world.counted("rejected")) == (1, 0)


def test_a_refused_upload_stores_nothing_and_is_counted_as_rejected(world: World) -> None:
    with unit_of_work(world.factory) as session, pytest.raises(UnknownPresetError):
        world.accept(session, Part("Week 1.wav"), preset="no-such-preset")

    assert list(world.store.list_prefix(f"courses/{world.course_id}/")) == []
    assert world.dispatcher.take() == []
    assert (world.counted("accepted"), world.counted("rejected")) == (0, 1)
