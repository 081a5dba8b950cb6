"""Course and preset rules: ownership, names, the preset catalogue, the PII policy."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

from pegasus.config import TRANSCRIPTION_MODES, TranscriptionMode
from pegasus.courses import repository
from pegasus.courses.schemas import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, PresetCreate
from pegasus.db.base import new_id
from pegasus.db.models import Course
from pegasus.db.models import Preset as PresetRow
from pegasus.errors import (
    QUOTED_VALUE_CHARS,
    EditConflictError,
    InvalidRequestError,
    NotFoundError,
    quoted,
)
from pegasus.pipeline.privacy import stored_policy
from pegasus.presets import BUILTIN_PRESETS, EXPORT_KEYS, KIT_OUTPUTS, Preset, get_preset
from pegasus.transcription.pii import (
    MAX_NAME_CHARS,
    MAX_ROSTER_NAMES,
    PiiKind,
    clean_name,
    clean_roster,
)

log = structlog.get_logger(__name__)


class UnknownTranscriptionModeError(InvalidRequestError):
    """That transcription mode does not exist. Choose fast or accurate, or nothing for the
    server's default."""

    code = "transcription_mode.unknown"


def check_transcription_mode(mode: str | None) -> TranscriptionMode | None:
    """``mode`` when it is None (the default) or one Pegasus offers;
    ``UnknownTranscriptionModeError`` naming the valid ones otherwise."""
    if mode is None:
        return None
    for valid in TRANSCRIPTION_MODES:
        if mode == valid:
            return valid
    raise UnknownTranscriptionModeError(
        f"There is no transcription mode called {quoted(mode)}. Choose one of: "
        f"{', '.join(TRANSCRIPTION_MODES)}, or null for the server's default.",
        field="transcription_mode",
        mode=mode[:QUOTED_VALUE_CHARS],
    )


def create_course(session: Session, owner_id: str, name: str) -> Course:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidRequestError("Give the course a name.")
    course = Course(owner_id=owner_id, name=cleaned[:200])
    session.add(course)
    session.flush()
    return course


def list_courses(session: Session, owner_id: str) -> Sequence[Course]:
    return repository.courses_of(session, owner_id)


def get_course(session: Session, owner_id: str, course_id: str) -> Course:
    """The course if ``owner_id`` owns it; ``NotFoundError`` otherwise (even if it exists)."""
    course = repository.owned_course(session, owner_id, course_id)
    if course is None:
        raise NotFoundError("There is no such course.", course_id=course_id)
    return course


def course_etag(course: Course) -> str:
    """The ETag of a course's editable fields (its name and transcription mode)."""
    digest = hashlib.sha256(
        json.dumps([course.name, course.transcription_mode], ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:16]
    return f'"course.{course.id}.{digest}"'


def update_course(
    session: Session,
    owner_id: str,
    course_id: str,
    *,
    transcription_mode: str | None,
    if_match: str | None = None,
) -> Course:
    """Set the transcription mode of a course ``owner_id`` owns (None: the server's
    default). It applies to lectures transcribed from now on whose preset names no mode.
    ``UnknownTranscriptionModeError`` for a mode Pegasus does not offer; ``If-Match`` (an
    ETag from ``course_etag``) that is no longer current: ``EditConflictError``."""
    course = get_course(session, owner_id, course_id)
    mode = check_transcription_mode(transcription_mode)
    if not _if_match_passes(if_match, course_etag(course)):
        raise EditConflictError(
            "This course was changed after you opened it. Reload it and make your change again."
        )
    course.transcription_mode = mode
    session.flush()
    log.info("course.updated", course_id=course.id, transcription_mode=mode)
    return course


def list_presets(session: Session, course_id: str | None = None) -> list[Preset]:
    """The built-in presets in catalogue order, then the course's own (when ``course_id``
    is given) in the order they were made."""
    own = _course_presets(session, course_id) if course_id is not None else []
    return [*BUILTIN_PRESETS.values(), *own]


def resolve_preset(session: Session, key: str, *, course_id: str | None = None) -> Preset:
    """The preset called ``key``: a built-in, or one of ``course_id``'s own presets
    (``pegasus.presets.get_preset`` decides; another course's preset is unknown here, as
    if it did not exist). Built-ins are found without a query."""
    if key in BUILTIN_PRESETS or course_id is None:
        return get_preset(key)
    return get_preset(key, _course_presets(session, course_id))


def _check_choices(outputs: Iterable[str], exports: Iterable[str]) -> None:
    """Refuse kit parts and export formats Pegasus does not know (``InvalidRequestError``
    naming them and the valid ones)."""
    for what, chosen, valid in (
        ("outputs", outputs, KIT_OUTPUTS),
        ("exports", exports, EXPORT_KEYS),
    ):
        unknown = sorted(set(chosen) - set(valid))
        if unknown:
            raise InvalidRequestError(f"Unknown {what} {unknown}; choose from {list(valid)}.")


def create_course_preset(
    session: Session, owner_id: str, course_id: str, request: PresetCreate
) -> Preset:
    """Add a preset to a course the user owns; its key is made from its name."""
    course = get_course(session, owner_id, course_id)
    _check_choices(request.outputs, request.exports)
    mode = check_transcription_mode(request.transcription_mode)
    slug = re.sub(r"[^a-z0-9]+", "-", request.name.lower()).strip("-")[:40] or "preset"
    chosen = request.model_dump()
    chosen.update(
        key=f"{slug}-{new_id()[:8]}",
        name=" ".join(request.name.split())[:100],
        description=request.description[:500],
        outputs=("transcript", *request.outputs),
        exports=tuple(request.exports),
        glossary=tuple(sorted({" ".join(t.split()) for t in request.glossary if t.strip()})),
        transcription_mode=mode,
        course_id=course.id,
    )
    return add_preset(session, Preset(**chosen))


def add_preset(session: Session, preset: Preset) -> Preset:
    """Store ``preset`` (a course's own when ``preset.course_id`` is set), its outputs and
    exports in catalogue order; the stored preset is returned."""
    row = PresetRow(key=preset.key)
    _write_row(row, preset)
    session.add(row)
    session.flush()
    return _to_preset(row)


def sync_builtin_presets(session: Session) -> None:
    """Make the presets table hold exactly the built-ins defined in ``pegasus.presets``."""
    for preset in BUILTIN_PRESETS.values():
        row = repository.preset_by_key(session, preset.key) or PresetRow(key=preset.key)
        _write_row(row, preset)
        session.add(row)
    session.flush()


# --- the one conversion between a preset and its row ---------------------------------------


def _write_row(row: PresetRow, preset: Preset) -> None:
    row.name = preset.name
    row.description = preset.description
    row.outputs = [o for o in KIT_OUTPUTS if o in preset.outputs]
    row.exports = [e for e in EXPORT_KEYS if e in preset.exports]
    row.options = preset.options()
    row.is_builtin = preset.course_id is None
    row.course_id = preset.course_id


def _to_preset(row: PresetRow) -> Preset:
    return Preset.from_options(
        row.options,
        key=row.key,
        name=row.name,
        description=row.description,
        outputs=tuple(row.outputs),
        exports=tuple(row.exports),
        course_id=row.course_id,
    )


def _course_presets(session: Session, course_id: str) -> list[Preset]:
    return [_to_preset(row) for row in repository.course_presets(session, course_id)]


# --- the course's PII policy ---------------------------------------------------------------


@dataclass(frozen=True)
class PrivacyPolicy:
    """A course's PII policy and recording retention, as stored, with its ETag (a digest
    of the three values: any change makes a new one)."""

    redaction_kinds: tuple[str, ...]
    roster_names: tuple[str, ...]
    audio_retention_days: int | None
    etag: str


def _privacy_of(course: Course) -> PrivacyPolicy:
    policy = stored_policy(course.redaction_kinds, course.roster_names)
    kinds = tuple(kind.value for kind in PiiKind if kind in policy.kinds)
    days = course.audio_retention_days
    digest = hashlib.sha256(
        json.dumps([kinds, policy.roster_names, days], ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:16]
    return PrivacyPolicy(kinds, policy.roster_names, days, f'"privacy.{course.id}.{digest}"')


def get_privacy(session: Session, owner_id: str, course_id: str) -> PrivacyPolicy:
    """The PII policy of a course ``owner_id`` owns; ``NotFoundError`` otherwise."""
    return _privacy_of(get_course(session, owner_id, course_id))


def check_redaction_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds in their usual order, repeats dropped; ``InvalidRequestError`` naming
    unknown ones and the valid ones."""
    chosen = list(kinds)
    valid = [kind.value for kind in PiiKind]
    unknown = sorted(set(chosen) - set(valid))
    if unknown:
        raise InvalidRequestError(
            f"Unknown redaction kinds {unknown}; choose from {valid}.",
            field="redaction_kinds",
            problem="unknown",
        )
    return tuple(kind for kind in valid if kind in chosen)


def check_roster(names: Iterable[str]) -> tuple[str, ...]:
    """The roster as stored: each name's whitespace cleaned, blank lines and repeats
    dropped. ``InvalidRequestError`` (naming the name's position, never the name) for a
    control character, a name over ``MAX_NAME_CHARS`` characters, or more than
    ``MAX_ROSTER_NAMES`` names."""
    given = list(names)
    for position, name in enumerate(given, start=1):
        if any(unicodedata.category(ch) == "Cc" for ch in name):
            raise InvalidRequestError(
                f"Roster name {position} holds a control character; remove it.",
                field="roster_names",
                problem="control_character",
                position=position,
            )
        if len(clean_name(name)) > MAX_NAME_CHARS:
            raise InvalidRequestError(
                f"Roster name {position} is longer than {MAX_NAME_CHARS} characters; shorten it.",
                field="roster_names",
                problem="too_long",
                position=position,
            )
    roster = clean_roster(given)
    if len(roster) > MAX_ROSTER_NAMES:
        raise InvalidRequestError(
            f"A roster holds at most {MAX_ROSTER_NAMES} names; this one has {len(roster)}.",
            field="roster_names",
            problem="too_many",
        )
    return roster


def check_retention_days(days: int | None) -> int | None:
    """``days`` when it is None (the server's default) or within the bounds."""
    if days is not None and not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise InvalidRequestError(
            f"Keep recordings for {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days, or leave "
            "it empty for the server's default.",
            field="audio_retention_days",
            problem="out_of_range",
        )
    return days


def _if_match_passes(header: str | None, etag: str) -> bool:
    if header is None or not header.strip():
        return True
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    return "*" in tags or any(
        not tag.startswith("W/") and tag.strip('"') == etag.strip('"') for tag in tags
    )


def set_privacy(
    session: Session,
    owner_id: str,
    course_id: str,
    *,
    redaction_kinds: Iterable[str],
    roster_names: Iterable[str],
    audio_retention_days: int | None,
    if_match: str | None = None,
) -> PrivacyPolicy:
    """Replace the PII policy of a course ``owner_id`` owns. It applies to lectures
    transcribed from now on (stored transcripts stay as they are) and to the recordings of
    every lecture of the course (the retention job reads it at each pass). ``If-Match``
    (an ETag from ``get_privacy``) that is no longer current: ``EditConflictError``."""
    course = get_course(session, owner_id, course_id)
    kinds = check_redaction_kinds(redaction_kinds)
    roster = check_roster(roster_names)
    days = check_retention_days(audio_retention_days)
    if not _if_match_passes(if_match, _privacy_of(course).etag):
        raise EditConflictError(
            "This course's privacy settings were changed after you opened them. Reload them "
            "and make your change again."
        )
    course.redaction_kinds = list(kinds)
    course.roster_names = list(roster)
    course.audio_retention_days = days
    session.flush()
    # Ids and counts only: never a roster name.
    log.info(
        "course.privacy.updated",
        course_id=course.id,
        redaction_kinds=list(kinds),
        roster_size=len(roster),
        audio_retention_days=days,
    )
    return _privacy_of(course)
