"""Fixtures shared by the whole suite: speech recordings, real databases, deployments.

The helpers behind them live in ``pegasus_testkit`` (the tools use them too); this file only
gives them pytest's scopes and teardown.

Databases: every test that asks for one gets its own, cloned from a template migrated once per
session (``pegasus_testkit.databases``): ``sqlite_url`` and ``postgres_url`` give one URL,
``new_database("sqlite" | "postgresql")`` as many as a test needs; all are removed in teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pegasus_testkit.databases import TEMPLATES
from pegasus_testkit.deployment import Deployment, embedded_deployment, scaled_deployment
from pegasus_testkit.lectures import Recordings, make_recordings
from pegasus_testkit.moto_server import moto_s3_server

NewDatabase = Callable[[str], str]


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Recordings:
    return make_recordings(tmp_path_factory.mktemp("recordings"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint served by moto in server mode, as a separate process."""
    with moto_s3_server() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _database_templates() -> Iterator[None]:
    """Drop the session's template databases (made on first use) when the session ends."""
    yield
    TEMPLATES.close()


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[NewDatabase]:
    """``new_database(backend)``: the URL of a fresh database of ``backend`` ("sqlite" or
    "postgresql"), cloned from the session's migrated template; each is removed afterwards."""
    made: list[str] = []

    def make(backend: str) -> str:
        url = TEMPLATES.new(backend, tmp_path)
        made.append(url)
        return url

    yield make
    for url in made:
        TEMPLATES.drop(url)


@pytest.fixture
def sqlite_url(new_database: NewDatabase) -> str:
    """A fresh migrated SQLite database of this test's own (a copy of the template file)."""
    return new_database("sqlite")


@pytest.fixture
def postgres_url(new_database: NewDatabase) -> str:
    """A fresh migrated PostgreSQL database of this test's own (CREATE DATABASE ... TEMPLATE)."""
    return new_database("postgresql")


@pytest.fixture(scope="module", params=["embedded", "scaled"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Each column of the design, running, shared by the tests of one module (on a fresh
    database cloned from the template)."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        with embedded_deployment(root) as running_deployment:
            yield running_deployment
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        with scaled_deployment(root, endpoint, workers=1) as running_deployment:
            yield running_deployment
