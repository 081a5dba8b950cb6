"""Search over transcripts through the search service, on both databases: what a query's
words find, that query syntax is never passed to the index, and whose lectures it sees."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from pegasus.config import DatabaseSettings
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.search import service
from pegasus.search.repository import MARK_END, MARK_START, Hit, index_transcript
from pegasus.transcription.schemas import Segment, Transcript
from tests.factories import make_course, make_lecture, make_user

SEGMENTS = (
    "Photosynthesis turns light energy into chemical energy.",
    "The Calvin cycle fixes carbon dioxide.",
    "Stomata are pores in the leaf.",
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def indexed(
    request: pytest.FixtureRequest, new_database: Callable[[str], str]
) -> Iterator[tuple[sessionmaker[Session], str, str]]:
    """A database holding one learner's indexed lecture; (sessions, learner id, lecture id)."""
    url = new_database(request.param)
    engine = build_engine(DatabaseSettings(url=SecretStr(url)))
    factory = build_session_factory(engine)
    with unit_of_work(factory) as session:
        owner = make_user(session)
        lecture = make_lecture(session, make_course(session, owner), title="Plants")
        transcript = Transcript(
            language="en",
            duration_seconds=30.0,
            segments=[
                Segment(start=10.0 * i, end=10.0 * (i + 1), text=text)
                for i, text in enumerate(SEGMENTS)
            ],
        )
        index_transcript(session, lecture_id=lecture.id, owner_id=owner.id, transcript=transcript)
        ids = (owner.id, lecture.id)
    yield factory, *ids
    engine.dispose()


def _search(factory: sessionmaker[Session], owner_id: str, query: str) -> list[Hit]:
    with unit_of_work(factory) as session:
        return service.search(session, owner_id=owner_id, query=query, limit=10)


def test_every_word_must_match_and_the_snippet_marks_them(
    indexed: tuple[sessionmaker[Session], str, str],
) -> None:
    factory, owner_id, lecture_id = indexed

    (hit,) = _search(factory, owner_id, "photosynthesis energy")

    assert (hit.lecture_id, hit.lecture_title, hit.start, hit.end) == (lecture_id, "Plants", 0, 10)
    assert f"{MARK_START}Photosynthesis{MARK_END}" in hit.snippet
    assert _search(factory, owner_id, "photosynthesis stomata") == []


@pytest.mark.parametrize(
    ("query", "start"),
    [
        ('"Calvin', 10.0),  # an unbalanced quote
        ("cycle*", 10.0),  # a prefix operator
        ("-stomata", 20.0),  # a NOT operator
        ("(stomata)", 20.0),  # grouping
        ("leaf:", 20.0),  # a column filter
    ],
)
def test_query_syntax_is_taken_as_words(
    indexed: tuple[sessionmaker[Session], str, str], query: str, start: float
) -> None:
    factory, owner_id, _ = indexed

    assert [hit.start for hit in _search(factory, owner_id, query)] == [start]


def test_a_query_of_no_words_finds_nothing_and_words_are_what_the_index_gets() -> None:
    assert service.query_words('"*) - (:') == []
    assert service.query_words("cycle* -stomata (Üben)") == ["cycle", "stomata", "Üben"]


def test_nobody_else_sees_the_lecture(indexed: tuple[sessionmaker[Session], str, str]) -> None:
    factory, _, _ = indexed
    with unit_of_work(factory) as session:
        stranger = make_user(session).id

    assert _search(factory, stranger, "photosynthesis") == []
