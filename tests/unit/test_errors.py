"""Errors: stable codes, default messages, HTTP mapping in one place."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc

from pegasus import errors
from pegasus.app import status_for
from pegasus.exports.bundle import safe_stem
from pegasus.observability.metrics import PipelineMetrics
from pegasus.presets import BUILTIN_PRESETS, get_preset


def _all_error_classes() -> list[type[errors.PegasusError]]:
    found: list[type[errors.PegasusError]] = []
    pending: list[type[errors.PegasusError]] = [errors.PegasusError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_codes_are_unique_and_dotted_or_simple() -> None:
    classes = [c for c in _all_error_classes() if c.__module__ == "pegasus.errors"]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert all(code == code.lower() and " " not in code for code in codes)


def test_default_message_is_the_docstring() -> None:
    error = errors.CorruptMediaError()
    assert error.message.startswith("The recording is damaged")
    assert str(error).startswith("media.corrupt: ")
    assert errors.CorruptMediaError("custom").message == "custom"


#: Written out by hand: the failures caused by something outside the recording that may
#: pass (our storage, a lost worker, a full pool, the study-kit model being busy or down), so
#: the queue runs the stage again later. Anything else fails the lecture at once.
TRANSIENT_CODES = {
    "storage.unavailable",
    "storage.full",
    "database.unavailable",
    "worker.lost",
    "service.busy",
    "generation.llm_unavailable",
}


def test_only_errors_that_may_pass_are_transient() -> None:
    flagged = {c.code for c in _all_error_classes() if c.transient}
    assert flagged == TRANSIENT_CODES


def test_retry_metrics_start_at_zero_for_exactly_the_transient_codes() -> None:
    registry = CollectorRegistry()
    PipelineMetrics(registry)
    text = generate_latest(registry).decode("utf-8")
    exported = {
        (sample.labels["stage"], sample.labels["error_code"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "pegasus_stage_retries_total"
    }
    assert {code for _, code in exported} == TRANSIENT_CODES
    assert {stage for stage, _ in exported} == {"ingest", "transcribe", "generate", "export"}
    assert set(exported.values()) == {0.0}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.AuthenticationError(), 401),
        (errors.NotFoundError(), 404),
        (errors.NothingToRetryError(), 409),
        (errors.MediaTooLargeError(), 413),
        (errors.UnknownPresetError(), 422),
        (errors.EmptyMediaError(), 422),
        (errors.StorageUnavailableError(), 503),
        (errors.PegasusError(), 500),
    ],
)
def test_http_status_mapping(error: errors.PegasusError, status: int) -> None:
    assert status_for(error) == status


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(errors.UnknownPresetError) as caught:
        get_preset("nope")
    for key in BUILTIN_PRESETS:
        assert key in caught.value.message


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        ("Photosynthesis", "Photosynthesis"),
        ('Week 3: "Cells" / part 2', "Week_3_Cells_part_2"),
        ("../../etc/passwd", "etc_passwd"),
        ("", "lecture"),
        ("講義 Über", "Uber"),
        ("講義", "lecture"),
    ],
)
def test_download_filenames_are_safe(title: str, stem: str) -> None:
    assert safe_stem(title) == stem
    assert stem.isascii()


def _wrapped(cls: type[sa_exc.DBAPIError], orig: BaseException) -> sa_exc.DBAPIError:
    """``orig`` as SQLAlchemy raises it from a statement."""
    return cls("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    "raised",
    [
        _wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")),
        _wrapped(sa_exc.OperationalError, psycopg.OperationalError("connection refused")),
        _wrapped(sa_exc.OperationalError, pg_errors.SerializationFailure("could not serialize")),
        _wrapped(sa_exc.OperationalError, pg_errors.DeadlockDetected("deadlock detected")),
        _wrapped(sa_exc.OperationalError, pg_errors.AdminShutdown("terminating connection")),
        _wrapped(sa_exc.InterfaceError, psycopg.InterfaceError("the connection is closed")),
        sa_exc.DisconnectionError("gone"),
        sa_exc.TimeoutError("QueuePool limit reached"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
    ],
    ids=[
        "sqlite-locked",
        "pg-refused",
        "pg-40001",
        "pg-40P01",
        "pg-57P01",
        "pg-closed",
        "disconnect",
        "pool-timeout",
        "psycopg-raw",
    ],
)
def test_connection_loss_and_serialization_failures_are_database_unavailable(
    raised: BaseException,
) -> None:
    fault = errors.database_unavailable(raised)
    assert isinstance(fault, errors.DatabaseUnavailableError)
    assert fault.code == "database.unavailable"
    assert fault.transient


@pytest.mark.parametrize(
    "raised",
    [
        _wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such table: lectures")),
        _wrapped(sa_exc.IntegrityError, pg_errors.UniqueViolation("duplicate key")),
        _wrapped(sa_exc.ProgrammingError, pg_errors.UndefinedTable("relation does not exist")),
        _wrapped(sa_exc.InterfaceError, sqlite3.InterfaceError("Error binding parameter 1")),
        ValueError("not a database error"),
    ],
    ids=["sqlite-no-table", "pg-unique", "pg-undefined-table", "sqlite-binding", "other"],
)
def test_bugs_are_not_database_unavailable(raised: BaseException) -> None:
    assert errors.database_unavailable(raised) is None
