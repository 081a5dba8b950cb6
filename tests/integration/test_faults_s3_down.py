"""The S3 endpoint goes away while a stage runs, then comes back: the stage fails with
``storage.unavailable`` (transient), is retried, and the lecture completes with nothing lost.

Pegasus reaches moto through a TCP proxy the test controls (``pegasus_testkit.tcp_proxy``):
cutting it resets every open connection and every new one, as an endpoint that is down does,
while moto keeps its data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from pegasus.db.models import StageRun
from pegasus_testkit.deployment import Api, Deployment, scaled_deployment
from pegasus_testkit.integrity import audit_lectures, file_sha256, store_for
from pegasus_testkit.lectures import Recordings
from pegasus_testkit.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def s3_proxy(s3_endpoint: str) -> Iterator[TcpProxy]:
    endpoint = urlsplit(s3_endpoint)
    assert endpoint.hostname is not None
    assert endpoint.port is not None
    with tcp_proxy(endpoint.hostname, endpoint.port) as proxy:
        yield proxy


@pytest.fixture
def scaled(tmp_path: Path, s3_proxy: TcpProxy) -> Iterator[Deployment]:
    # Attempts enough that the retries outlast the outage the test makes.
    env = {"PEGASUS_QUEUE_MAX_ATTEMPTS": "8"}
    with scaled_deployment(
        tmp_path, f"http://{s3_proxy.address}", workers=1, env=env
    ) as deployment:
        yield deployment


@pytest.fixture
def api(scaled: Deployment) -> Iterator[Api]:
    """A signed-in client of the deployment, closed even when the test fails."""
    client = Api(scaled, scaled.create_user("storage-outage@example.org"))
    yield client
    client.close()


def _wait_for_run(
    database_url: str, *, status: str, stage: str | None = None, error_code: str | None = None
) -> StageRun:
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            query = select(StageRun).where(StageRun.status == status)
            if stage is not None:
                query = query.where(StageRun.stage == stage)
            if error_code is not None:
                query = query.where(StageRun.error_code == error_code)
            with Session(engine) as session:
                found = session.scalars(query.limit(1)).first()
            if found is not None:
                return found
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"no {stage or 'stage'} run became {status} ({error_code})")


def test_storage_outage_during_a_stage_is_retried_until_it_is_back(
    scaled: Deployment, api: Api, s3_proxy: TcpProxy, s3_endpoint: str, recordings: Recordings
) -> None:
    course = api.create_course("Storage outage")
    response = api.upload(course["id"], recordings.lecture_wav, content_type="audio/wav")
    assert response.status_code == 202, response.text
    lecture_id = response.json()["id"]

    _wait_for_run(scaled.database_url, status="running", stage="transcribe")
    s3_proxy.cut()
    failed = _wait_for_run(scaled.database_url, status="failed", error_code="storage.unavailable")
    # It met the outage on a new connection (refused) or on a pooled one the cut reset.
    assert s3_proxy.refused + s3_proxy.cut_open >= 1, "the stage must have met the outage"
    s3_proxy.restore()

    lecture = api.wait_for(lecture_id, timeout=60)
    assert lecture["status"] == "succeeded", scaled.logs()
    # The stage that met the outage failed as storage.unavailable until it was back.
    *outage, last = [(status, code) for _attempt, status, code in _attempts(scaled, failed)]
    assert outage, "the stage never failed"
    assert set(outage) == {("failed", "storage.unavailable")}
    assert last == ("succeeded", None)
    # Read back past the proxy, straight from moto: it kept every byte.
    sources = {lecture_id: file_sha256(recordings.lecture_wav)}
    with store_for(scaled.env, s3_endpoint=s3_endpoint) as direct:
        assert audit_lectures(scaled.database_url, direct, sources) == []


def _attempts(deployment: Deployment, run: StageRun) -> list[tuple[int, str, str | None]]:
    """(attempt, status, error code) of every attempt of ``run``'s stage, in order."""
    engine = create_engine(deployment.database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(StageRun.attempt, StageRun.status, StageRun.error_code)
                .where(StageRun.lecture_id == run.lecture_id, StageRun.stage == run.stage)
                .order_by(StageRun.attempt)
            ).all()
    finally:
        engine.dispose()
    return [(attempt, status, code) for attempt, status, code in rows]
