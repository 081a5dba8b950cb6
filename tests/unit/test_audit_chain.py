"""The audit chain's canonical form and hash (a stored format: pinned to known values), what
``record`` refuses before it touches the database, and the action table of the docs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.orm import Session

from pegasus.audit import actions, record
from pegasus.audit.chain import GENESIS_HASH, EntryContent, canonical_form, entry_hash

DOC = Path(__file__).resolve().parents[2] / "docs" / "security" / "audit-log.md"

FIRST = EntryContent(
    seq=1,
    occurred_at=datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC),
    action="auth.sign_in",
    actor_id="u-1",
    subject_type="user",
    subject_id="u-1",
    details={"method": "password"},
)
SECOND = EntryContent(
    seq=2,
    # 10:30 at UTC+1 is 09:30 UTC; no microseconds still prints six digits
    occurred_at=datetime(2026, 12, 7, 10, 30, 0, tzinfo=timezone(timedelta(hours=1))),
    action="token.revoked",
    actor_id=None,
    subject_type="token",
    subject_id="t-1",
    details={"owner_id": "u-1", "z": 1.5, "a": True, "n": None, "s": "é"},
)


def test_the_canonical_form_is_sorted_compact_ascii_json_in_utc() -> None:
    assert canonical_form(FIRST) == (
        '{"action":"auth.sign_in","actor_id":"u-1","details":{"method":"password"},'
        '"occurred_at":"2026-12-07T09:30:00.123456+00:00","seq":1,"subject_id":"u-1",'
        '"subject_type":"user"}'
    )
    assert canonical_form(SECOND) == (
        '{"action":"token.revoked","actor_id":null,"details":{"a":true,"n":null,'
        '"owner_id":"u-1","s":"\\u00e9","z":1.5},"occurred_at":"2026-12-07T09:30:00.000000+00:00",'
        '"seq":2,"subject_id":"t-1","subject_type":"token"}'
    )


def test_each_hash_covers_the_previous_hash_and_the_entry() -> None:
    first = entry_hash(GENESIS_HASH, FIRST)
    expected = hashlib.sha256((GENESIS_HASH + canonical_form(FIRST)).encode()).hexdigest()
    assert first == expected
    # pinned: entries written today must verify with every later release
    assert first == "b01d1729ba68213f309bcdff6c2c79b5ff0def33c7453c4902a8b896355aacb2"
    assert entry_hash(first, SECOND) == (
        "16ccea585f82495cbd6e99f0ac6da550a3496f468bddb11d086fb874fed4d6e4"
    )
    assert entry_hash("f" * 64, FIRST) != first


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"occurred_at": FIRST.occurred_at + timedelta(microseconds=1)},
        {"action": "auth.sign_out"},
        {"actor_id": None},
        {"actor_id": "u-2"},
        {"subject_type": "account"},
        {"subject_id": None},
        {"details": {"method": "password", "extra": 1}},
        {"details": {"method": "passwore"}},
        {"details": {}},
    ],
)
def test_changing_any_field_changes_the_hash(change: dict[str, Any]) -> None:
    changed = EntryContent(**{**FIRST.__dict__, **change})
    assert entry_hash(GENESIS_HASH, changed) != entry_hash(GENESIS_HASH, FIRST)


def test_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        canonical_form(EntryContent(**{**FIRST.__dict__, "occurred_at": datetime(2026, 1, 1)}))
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_form(EntryContent(**{**FIRST.__dict__, "details": {"x": float("nan")}}))
    with pytest.raises(TypeError):
        canonical_form(EntryContent(**{**FIRST.__dict__, "details": cast(Any, [])}))


class UntouchedSession:
    """Never reached: ``record`` refuses bad input before it asks the database."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the session was used ({name})")


def _record(action: str = actions.SIGN_IN, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "actor_id": "u-1",
        "subject_type": "user",
        "subject_id": "u-1",
        "details": None,
    }
    fields.update(overrides)
    record(cast(Session, UntouchedSession()), action, **fields)


@pytest.mark.parametrize(
    ("action", "overrides", "message"),
    [
        ("auth.signed_in", {}, "unknown audit action"),
        (actions.SIGN_IN_FAILED, {"details": {"email": "a@example.org"}}, "e-mail"),
        (actions.SIGN_IN_FAILED, {"subject_id": "a@example.org"}, "e-mail"),
        (actions.SIGN_IN_FAILED, {"actor_id": "a@b.c"}, "e-mail"),
        (actions.SIGN_IN, {"details": {"Bad Key": 1}}, "lower-case identifier"),
        (actions.SIGN_IN, {"details": {"n": float("inf")}}, "finite"),
        (actions.SIGN_IN, {"details": {"list": [1]}}, "string, number"),
        (actions.SIGN_IN, {"details": {"long": "x" * 201}}, "longer than"),
        (actions.SIGN_IN, {"subject_type": "User"}, "lower-case identifier"),
        (actions.SIGN_IN, {"subject_id": "x" * 65}, "1 to 64"),
        (actions.SIGN_IN, {"actor_id": ""}, "1 to 36"),
    ],
)
def test_record_refuses_unknown_actions_and_personal_data(
    action: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _record(action, **overrides)


def test_the_documentation_shows_the_catalog_row_for_row() -> None:
    doc_rows = [
        line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    ]
    documented = [row for row in doc_rows if row.split("`")[1] in actions.KNOWN_ACTIONS]
    expected = [
        f"| `{info.action}` | {info.actor} | {info.subject} | {info.details} |"
        for info in actions.CATALOG
    ]
    assert documented == expected, f"{DOC.name}'s action table differs from actions.CATALOG"
    assert len(actions.KNOWN_ACTIONS) == len(actions.CATALOG)
