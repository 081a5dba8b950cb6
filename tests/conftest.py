"""Fixtures shared by the whole suite: speech recordings, real databases, deployments."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from tests.support.audio import make_long_recording, synthesize_speech, truncate_file
from tests.support.deployment import Deployment, running
from tests.support.moto_server import moto_s3_server

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"

#: What the fixture lecture says; tests look for these words in transcripts and exports.
SPOKEN_TEXT = (
    "Photosynthesis converts light energy into chemical energy. "
    "Chlorophyll is the green pigment that absorbs sunlight in the leaves. "
    "The Calvin cycle uses carbon dioxide to build sugar."
)
SPOKEN_WORDS = ("photosynthesis", "energy", "chlorophyll", "pigment", "sugar")

#: A longer lecture with definitions, for the study kit (flashcards, quiz, chapters).
RICH_TEXT = (
    "Today we study how plants make food. Photosynthesis is the process that turns light "
    "energy into chemical energy. Chlorophyll is the green pigment that absorbs light. "
    "Chloroplasts are the organelles where photosynthesis happens. Chlorophyll sits inside "
    "the chloroplasts, and photosynthesis needs chlorophyll to capture light. "
    "Now let's move on to the second part, the light reactions. The thylakoid is a membrane "
    "sac inside the chloroplast. The light reactions happen in the thylakoid membrane and "
    "they split water to release oxygen. ATP is the molecule that stores energy for the cell. "
    "The light reactions make ATP, and ATP carries energy to the next stage. "
    "Finally, the third part is the Calvin cycle. The Calvin cycle is the set of reactions "
    "that builds sugar from carbon dioxide. The stroma is the fluid around the thylakoids. "
    "The Calvin cycle runs in the stroma and it uses ATP from the light reactions. "
    "Stomata are small pores in the leaf that let carbon dioxide in. Without stomata the "
    "Calvin cycle would run out of carbon dioxide."
)


@dataclass(frozen=True)
class Recordings:
    """Files made once per test session from synthesized speech."""

    lecture_m4a: Path
    lecture_wav: Path
    truncated_m4a: Path
    text_as_mp3: Path
    empty_m4a: Path
    long_wav: Path
    rich_m4a: Path


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Recordings:
    root = tmp_path_factory.mktemp("recordings")
    lecture_m4a = synthesize_speech(SPOKEN_TEXT, root / "lecture.m4a", fmt="m4a")
    lecture_wav = synthesize_speech(SPOKEN_TEXT, root / "lecture.wav", fmt="wav")
    text = root / "notes.mp3"
    text.write_text("These are my notes, not a recording.\n" * 20, encoding="utf-8")
    empty = root / "empty.m4a"
    empty.write_bytes(b"")
    return Recordings(
        lecture_m4a=lecture_m4a,
        lecture_wav=lecture_wav,
        truncated_m4a=truncate_file(lecture_m4a, root / "truncated.m4a", 0.5),
        text_as_mp3=text,
        empty_m4a=empty,
        long_wav=make_long_recording(root / "long.wav", 150.0, SPOKEN_TEXT),
        rich_m4a=synthesize_speech(RICH_TEXT, root / "rich.m4a", fmt="m4a", wpm=165),
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint served by moto in server mode, as a separate process."""
    with moto_s3_server() as url:
        yield url


def create_postgres_database() -> str:
    name = f"pegasus_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fast_queue_env() -> dict[str, str]:
    """Short leases and reconcile intervals so lost work is recovered within seconds."""
    return {
        "PEGASUS_QUEUE_LEASE_SECONDS": "4",
        "PEGASUS_QUEUE_RECONCILE_INTERVAL_SECONDS": "1",
        "PEGASUS_QUEUE_REQUEUE_AFTER_SECONDS": "10",
        "PEGASUS_QUEUE_RETRY_BASE_SECONDS": "0.5",
        "PEGASUS_MEDIA_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
        "PEGASUS_LOG_LEVEL": "INFO",
    }


@contextlib.contextmanager
def embedded_deployment(root: Path) -> Iterator[Deployment]:
    """Column (a): SQLite, local files, Huey on SQLite, workers inside `pegasus serve`."""
    env = {
        "PEGASUS_DATABASE_URL": f"sqlite:///{root / 'pegasus.db'}",
        "PEGASUS_STORAGE_BACKEND": "local",
        "PEGASUS_STORAGE_ROOT": str(root / "objects"),
        "PEGASUS_QUEUE_URL": f"sqlite:///{root / 'queue.db'}",
        "PEGASUS_SERVER_RUN_CONSUMER": "true",
        **_fast_queue_env(),
    }
    with running(Deployment(name="embedded", env=env, workdir=root), workers=0) as deployment:
        yield deployment


@contextlib.contextmanager
def scaled_deployment(root: Path, s3_endpoint: str, *, workers: int) -> Iterator[Deployment]:
    """Column (b): PostgreSQL, S3 (moto server), Huey on Redis, separate worker processes."""
    database = create_postgres_database()
    queue_name = f"pegasus-test-{uuid.uuid4().hex[:8]}"
    secret_file = root / "s3-secret"
    secret_file.write_text("testing-secret\n", encoding="utf-8")
    env = {
        "PEGASUS_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
        "PEGASUS_STORAGE_BACKEND": "s3",
        "PEGASUS_STORAGE_S3_ENDPOINT_URL": s3_endpoint,
        "PEGASUS_STORAGE_S3_BUCKET": f"pegasus-{uuid.uuid4().hex[:8]}",
        "PEGASUS_STORAGE_S3_CREATE_BUCKET": "true",
        "PEGASUS_STORAGE_S3_ACCESS_KEY_ID": "testing",
        "PEGASUS_STORAGE_S3_SECRET_ACCESS_KEY_FILE": str(secret_file),
        "PEGASUS_QUEUE_URL": REDIS_URL,
        "PEGASUS_QUEUE_NAME": queue_name,
        "PEGASUS_SERVER_RUN_CONSUMER": "false",
        # Server and workers share one machine here: multiprocess metrics add them up.
        "PEGASUS_METRICS_MULTIPROC_DIR": str(root / "metrics"),
        **_fast_queue_env(),
    }
    try:
        deployment = Deployment(name="scaled", env=env, workdir=root)
        with running(deployment, workers=workers):
            yield deployment
    finally:
        drop_postgres_database(database)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{queue_name}*"):
            client.delete(key)
        client.close()


@pytest.fixture(scope="module", params=["embedded", "scaled"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Each column of the design, running, shared by the tests of one module."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        with embedded_deployment(root) as running_deployment:
            yield running_deployment
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        with scaled_deployment(root, endpoint, workers=1) as running_deployment:
            yield running_deployment
