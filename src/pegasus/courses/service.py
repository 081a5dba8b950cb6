"""Course and preset rules: ownership, names, the preset catalogue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from pegasus.courses import repository
from pegasus.db.models import Course
from pegasus.db.models import Preset as PresetRow
from pegasus.errors import InvalidRequestError, NotFoundError
from pegasus.presets import BUILTIN_PRESETS, Preset, get_preset


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


def list_presets(session: Session) -> list[Preset]:
    return [_to_preset(row) for row in repository.builtin_presets(session)]


def resolve_preset(session: Session, key: str) -> Preset:
    """The preset called ``key``; ``UnknownPresetError`` names the valid ones otherwise."""
    row = repository.preset_by_key(session, key)
    if row is None:
        return get_preset(key)  # raises UnknownPresetError, or finds a not-yet-synced built-in
    return _to_preset(row)


def sync_builtin_presets(session: Session) -> None:
    """Make the presets table hold exactly the built-ins defined in ``pegasus.presets``."""
    for preset in BUILTIN_PRESETS.values():
        row = repository.preset_by_key(session, preset.key) or PresetRow(key=preset.key)
        row.name = preset.name
        row.description = preset.description
        row.outputs = list(preset.outputs)
        row.exports = list(preset.exports)
        row.options = {
            "summary_sentences": preset.summary_sentences,
            "key_term_count": preset.key_term_count,
            "flashcard_count": preset.flashcard_count,
            "quiz_count": preset.quiz_count,
        }
        row.is_builtin = True
        session.add(row)
    session.flush()


def _to_preset(row: PresetRow) -> Preset:
    return Preset(
        key=row.key,
        name=row.name,
        description=row.description,
        outputs=tuple(row.outputs),
        exports=tuple(row.exports),
        summary_sentences=int(row.options.get("summary_sentences", 5)),
        key_term_count=int(row.options.get("key_term_count", 12)),
        flashcard_count=int(row.options.get("flashcard_count", 0)),
        quiz_count=int(row.options.get("quiz_count", 0)),
    )
