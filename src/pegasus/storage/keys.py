"""Object keys: validation and the builders every caller uses to name stored objects."""

from __future__ import annotations

from pegasus.errors import InvalidRequestError

_FORBIDDEN_CHARS = ("\\", "\x00")
_DOT_SEGMENTS = frozenset({".", ".."})


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative key, else raise InvalidRequestError.

    A key is non-empty, does not start or end with ``/``, has no empty, ``.`` or ``..``
    segment, and holds no backslash or NUL.
    """
    if not key:
        raise InvalidRequestError("An object key must not be empty.", key=key)
    _refuse_chars(key)
    if key.startswith("/"):
        raise InvalidRequestError("An object key must be relative.", key=key)
    for segment in key.split("/"):
        if not segment:
            raise InvalidRequestError("An object key must not have empty segments.", key=key)
        if segment in _DOT_SEGMENTS:
            raise InvalidRequestError("An object key must not have '.' or '..' segments.", key=key)
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged if it is a safe key prefix, else raise InvalidRequestError.

    The empty prefix means every key. Otherwise the same rules as ``validate_key`` apply to
    every segment, except that the prefix may end with ``/``.
    """
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def _refuse_chars(key: str) -> None:
    if any(char in key for char in _FORBIDDEN_CHARS):
        raise InvalidRequestError(
            "An object key must not contain backslashes or NUL characters.", key=key
        )


def _segment(value: str, what: str) -> str:
    if not value or "/" in value or value in _DOT_SEGMENTS:
        raise InvalidRequestError(f"The {what} is not valid in an object key.", value=value)
    _refuse_chars(value)
    return value


def course_prefix(course_id: str) -> str:
    """``courses/{course}/``: everything stored for one course."""
    return f"courses/{_segment(course_id, 'course id')}/"


def lecture_prefix(course_id: str, lecture_id: str) -> str:
    """``courses/{course}/lectures/{lecture}/``: everything stored for one lecture."""
    return f"{course_prefix(course_id)}lectures/{_segment(lecture_id, 'lecture id')}/"


def lecture_key(course_id: str, lecture_id: str, name: str) -> str:
    """The key of ``name`` (which may hold ``/``, e.g. ``exports/kit.zip``) in a lecture."""
    return validate_key(lecture_prefix(course_id, lecture_id) + name)
