"""Writes that must not race: lecture re-queueing and recording token use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from pegasus.accounts.security import USE_RECORD_RESOLUTION
from pegasus.accounts.service import authenticate_token, create_token
from pegasus.db.base import utcnow
from pegasus.db.models import ApiToken, Lecture
from pegasus.db.session import unit_of_work
from pegasus.pipeline import transitions
from tests.integration.test_pipeline_runner import Harness


def test_only_one_of_two_requeues_wins(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.drain()
    with unit_of_work(harness.factory) as first, unit_of_work(harness.factory) as second:
        a = first.get(Lecture, harness.lecture_id)
        b = second.get(Lecture, harness.lecture_id)
        assert a is not None
        assert b is not None
        assert a.status == b.status == "succeeded"  # both requests saw a finished lecture
        assert transitions.requeue_lecture(first, a, from_statuses={"succeeded", "failed"})
        first.commit()
        assert not transitions.requeue_lecture(second, b, from_statuses={"succeeded", "failed"})
    harness.engine.dispose()


def test_token_use_is_recorded_at_most_every_few_minutes(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
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
    harness.engine.dispose()
