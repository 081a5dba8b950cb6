"""Writes that must not race: retry and regenerate of one lecture, and recording token use.

The races are real: two threads, each in its own unit of work, both read the lecture as
finished, meet at a barrier, and then ask for the same change at the same moment, on SQLite
and on PostgreSQL. Exactly one may win; the other gets a conflict and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pegasus.accounts.security import USE_RECORD_RESOLUTION
from pegasus.accounts.service import authenticate_token, create_token
from pegasus.db.base import utcnow
from pegasus.db.models import ApiToken, Lecture, StageName
from pegasus.db.session import unit_of_work
from pegasus.errors import ConflictError, CorruptMediaError
from pegasus.lectures.review import regenerate
from pegasus.lectures.service import retry_lecture
from tests.factories import BACKENDS, PipelineHarness

CONTENDERS = 2


@pytest.fixture(params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, new_database: Callable[[str], str], tmp_path: Path
) -> Iterator[PipelineHarness]:
    """The state machine on a fresh, migrated database of each kind."""
    h = PipelineHarness(new_database(request.param), tmp_path, threads=CONTENDERS)
    yield h
    h.close()


@dataclass
class Outcome:
    seen: str = ""  # the lecture's status this contender read before the barrier
    won: bool = False
    error: BaseException | None = None


def race(harness: PipelineHarness, action: Callable[[Session], object]) -> list[Outcome]:
    """Run ``action`` in CONTENDERS threads at once, each in its own unit of work, after
    each has read the lecture (and its runs) and all have met at a barrier."""
    barrier = threading.Barrier(CONTENDERS, timeout=30)
    outcomes = [Outcome() for _ in range(CONTENDERS)]

    def contend(outcome: Outcome) -> None:
        try:
            with unit_of_work(harness.factory) as session:
                lecture = session.get(Lecture, harness.lecture_id)
                assert lecture is not None
                outcome.seen = lecture.status
                assert lecture.stage_runs  # loaded now: what this request saw
                barrier.wait()
                action(session)
            outcome.won = True
        except BaseException as exc:  # reported by the test, not lost in the thread
            outcome.error = exc

    threads = [threading.Thread(target=contend, args=(o,)) for o in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a contender hung"
    return outcomes


def assert_exactly_one_won(outcomes: list[Outcome], seen: str, loser_code: str) -> None:
    assert [o.seen for o in outcomes] == [seen] * CONTENDERS, "both must see it finished"
    winners = [o for o in outcomes if o.won]
    losers = [o for o in outcomes if not o.won]
    assert len(winners) == 1, [(o.won, repr(o.error)) for o in outcomes]
    (loser,) = losers
    assert isinstance(loser.error, ConflictError), repr(loser.error)
    assert loser.error.code == loser_code


def test_only_one_of_two_simultaneous_retries_wins(harness: PipelineHarness) -> None:
    harness.stages[StageName.GENERATE].errors = [CorruptMediaError()]
    harness.drain()
    assert harness.lecture().status == "failed"

    outcomes = race(
        harness,
        lambda session: retry_lecture(
            session, harness.dispatcher, harness.owner_id, harness.lecture_id
        ),
    )

    assert_exactly_one_won(outcomes, "failed", "lecture.nothing_to_retry")
    assert harness.lecture().status == "queued"
    assert harness.runs()[2:] == [
        ("generate", 1, "failed", "media.corrupt"),
        ("generate", 2, "queued", None),
    ]
    ((stage_run_id, _),) = harness.dispatcher.take()  # one message for the one new attempt
    harness.runner.run(stage_run_id)
    harness.drain()
    assert harness.lecture().status == "succeeded"


def test_only_one_of_two_simultaneous_regenerates_wins(harness: PipelineHarness) -> None:
    harness.drain()
    assert harness.lecture().status == "succeeded"

    outcomes = race(
        harness,
        lambda session: regenerate(
            session, harness.dispatcher, harness.owner_id, harness.lecture_id
        ),
    )

    assert_exactly_one_won(outcomes, "succeeded", "lecture.busy")
    assert harness.lecture().status == "queued"
    assert [r for r in harness.runs() if r[0] == "generate"] == [
        ("generate", 1, "succeeded", None),
        ("generate", 2, "queued", None),
    ]
    assert len(harness.dispatcher.take()) == 1, "one message for the one new attempt"


def test_token_use_is_recorded_at_most_every_few_minutes(harness: PipelineHarness) -> None:
    with unit_of_work(harness.factory) as session:
        secret = create_token(session, "runner@example.org")
    start = utcnow()
    with unit_of_work(harness.factory) as session:
        authenticate_token(session, secret, now=start)
    with unit_of_work(harness.factory) as session:
        first = session.scalar(select(ApiToken.last_used_at))
    assert first is not None
    soon = start + USE_RECORD_RESOLUTION - timedelta(seconds=1)
    with unit_of_work(harness.factory) as session:
        authenticate_token(session, secret, now=soon)
    with unit_of_work(harness.factory) as session:
        assert session.scalar(select(ApiToken.last_used_at)) == first
    later = start + USE_RECORD_RESOLUTION + timedelta(seconds=1)
    with unit_of_work(harness.factory) as session:
        authenticate_token(session, secret, now=later)
    with unit_of_work(harness.factory) as session:
        assert session.scalar(select(ApiToken.last_used_at)) == later
