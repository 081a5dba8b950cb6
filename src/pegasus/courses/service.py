"""Course and preset rules: ownership, names, the preset catalogue."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from pegasus.courses import repository
from pegasus.db.base import new_id
from pegasus.db.models import Course
from pegasus.db.models import Preset as PresetRow
from pegasus.errors import (
    QUOTED_VALUE_CHARS,
    InvalidRequestError,
    NotFoundError,
    UnknownPresetError,
    quoted,
)
from pegasus.presets import BUILTIN_PRESETS, EXPORT_FORMATS, KIT_OUTPUTS, Preset, get_preset


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


def list_presets(session: Session, course_id: str | None = None) -> list[Preset]:
    """The built-in presets, then the course's own (when ``course_id`` is given)."""
    rows = list(repository.builtin_presets(session))
    if course_id is not None:
        rows += repository.course_presets(session, course_id)
    return [_to_preset(row) for row in rows]


def resolve_preset(session: Session, key: str, *, course_id: str | None = None) -> Preset:
    """The preset called ``key``: a built-in, or one of ``course_id``'s own presets.

    ``UnknownPresetError`` names the valid ones otherwise (another course's preset is
    unknown here, as if it did not exist)."""
    row = repository.preset_by_key(session, key)
    if row is None or (row.course_id is not None and row.course_id != course_id):
        if row is None and key in BUILTIN_PRESETS:
            return get_preset(key)  # a built-in not yet synced into the table
        valid = ", ".join(p.key for p in list_presets(session, course_id)) or ", ".join(
            sorted(BUILTIN_PRESETS)
        )
        raise UnknownPresetError(
            f"There is no preset called {quoted(key)}. Choose one of: {valid}.",
            preset=key[:QUOTED_VALUE_CHARS],
        )
    return _to_preset(row)


@dataclass(frozen=True)
class PresetSpec:
    """What a learner chooses for a course's own preset."""

    name: str
    outputs: tuple[str, ...]
    exports: tuple[str, ...]
    summary_sentences: int
    key_term_count: int
    flashcard_count: int
    quiz_count: int
    glossary: tuple[str, ...]
    description: str = ""


def create_course_preset(
    session: Session, owner_id: str, course_id: str, spec: PresetSpec
) -> Preset:
    """Add a preset to a course the user owns; its key is made from its name."""
    course = get_course(session, owner_id, course_id)
    unknown_outputs = sorted(set(spec.outputs) - set(KIT_OUTPUTS))
    unknown_exports = sorted(set(spec.exports) - set(EXPORT_FORMATS))
    if unknown_outputs:
        raise InvalidRequestError(
            f"Unknown outputs {unknown_outputs}; choose from {list(KIT_OUTPUTS)}."
        )
    if unknown_exports:
        raise InvalidRequestError(
            f"Unknown exports {unknown_exports}; choose from {list(EXPORT_FORMATS)}."
        )
    slug = re.sub(r"[^a-z0-9]+", "-", spec.name.lower()).strip("-")[:40] or "preset"
    row = PresetRow(
        key=f"{slug}-{new_id()[:8]}",
        name=" ".join(spec.name.split())[:100],
        description=spec.description[:500],
        outputs=[
            "transcript",
            *[o for o in KIT_OUTPUTS if o in spec.outputs and o != "transcript"],
        ],
        exports=[e for e in EXPORT_FORMATS if e in spec.exports],
        options={
            "summary_sentences": spec.summary_sentences,
            "key_term_count": spec.key_term_count,
            "flashcard_count": spec.flashcard_count,
            "quiz_count": spec.quiz_count,
            "glossary": sorted({" ".join(t.split()) for t in spec.glossary if t.strip()}),
        },
        is_builtin=False,
        course_id=course.id,
    )
    session.add(row)
    session.flush()
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
        glossary=tuple(row.options.get("glossary", ())),
        course_id=row.course_id,
    )
