"""Course and preset rules: ownership, names, the preset catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from pegasus.courses import repository
from pegasus.courses.schemas import PresetCreate
from pegasus.db.base import new_id
from pegasus.db.models import Course
from pegasus.db.models import Preset as PresetRow
from pegasus.errors import InvalidRequestError, NotFoundError
from pegasus.presets import BUILTIN_PRESETS, EXPORT_KEYS, KIT_OUTPUTS, Preset, get_preset


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
    slug = re.sub(r"[^a-z0-9]+", "-", request.name.lower()).strip("-")[:40] or "preset"
    chosen = request.model_dump()
    chosen.update(
        key=f"{slug}-{new_id()[:8]}",
        name=" ".join(request.name.split())[:100],
        description=request.description[:500],
        outputs=("transcript", *request.outputs),
        exports=tuple(request.exports),
        glossary=tuple(sorted({" ".join(t.split()) for t in request.glossary if t.strip()})),
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
