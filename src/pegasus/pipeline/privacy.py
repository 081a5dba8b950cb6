"""A course's PII policy as the pipeline uses it: read from the course row for a run's
``StageContext.redaction`` (``pegasus.transcription.pii``)."""

from __future__ import annotations

from pegasus.transcription.pii import RedactionPolicy, clean_roster


def stored_policy(kinds: object, roster_names: object) -> RedactionPolicy:
    """The policy of a course row's ``redaction_kinds`` and ``roster_names``. A value that
    is not a list (a damaged row) reads as the safe default for that half: every kind, or
    no roster."""
    names = _names(roster_names)
    if not isinstance(kinds, list):
        return RedactionPolicy(roster_names=clean_roster(names))
    return RedactionPolicy.from_stored(kinds, names)


def _names(value: object) -> list[str]:
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []
