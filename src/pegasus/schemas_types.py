"""Reusable field types for request bodies, forms and queries.

``Count``: a JSON integer (``12`` or ``12.0``, both integers in JSON Schema), never a boolean
or a string: ``false`` is not 0 and ``"5"`` is not 5.

``VisibleStr``: text a person typed (a name, a title, a correction) must hold at least one
character that is neither whitespace nor a control character. The rule is one regular
expression, used both to validate and as the field's OpenAPI ``pattern``, so clients and
contract tests see exactly what the server accepts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

#: No code point above U+3000 (ideographic space) is whitespace or a control character, so
#: the scan stops there instead of walking all 1.1 million at every start (about 0.3 s);
#: tests/unit/test_schemas_types.py checks the rest of the range.
LAST_INVISIBLE_CODE_POINT = 0x3000


def invisible_code_points(last: int = LAST_INVISIBLE_CODE_POINT) -> list[int]:
    return [
        cp for cp in range(last + 1) if chr(cp).isspace() or unicodedata.category(chr(cp)) == "Cc"
    ]


def _character_class(code_points: list[int]) -> str:
    """``code_points`` as ``\\uXXXX`` ranges, which Python and ECMA-262 read alike."""
    ranges: list[tuple[int, int]] = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in ranges)


#: Matches a string with at least one visible character (the OpenAPI ``pattern``).
VISIBLE_PATTERN = f"[^{_character_class(invisible_code_points())}]"
_VISIBLE = re.compile(VISIBLE_PATTERN)


def require_visible(value: str) -> str:
    """``value`` unchanged; ``ValueError`` when it is only whitespace or control characters."""
    if not _VISIBLE.search(value):
        raise ValueError("must contain at least one visible character, not only spaces")
    return value


def require_visible_or_empty(value: str) -> str:
    """``value`` unchanged when empty (a form field left blank) or visible."""
    return value if value == "" else require_visible(value)


#: A string with at least one visible character; combine with ``Field(max_length=...)``.
VisibleStr = Annotated[
    str,
    AfterValidator(require_visible),
    Field(json_schema_extra={"pattern": VISIBLE_PATTERN}),
]


def require_number(value: object) -> object:
    """``value`` unchanged when it is a JSON number; ``ValueError`` for booleans, strings and
    anything else, which lax integer parsing would otherwise turn into a count."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number, not a boolean or a string")
    return value


#: A whole number; combine with ``Field(ge=..., le=...)``. An OPTIONAL bounded count
#: (``... | None``) puts its bounds before the validator instead,
#: ``Annotated[int, Field(ge=1, le=9), BeforeValidator(require_number)]``: bounds given on
#: the optional field reach the schema as raw ``ge``/``le`` keys that JSON Schema ignores.
Count = Annotated[int, BeforeValidator(require_number)]

#: A form field that may be left blank (browsers send ``""``; FastAPI reads it as not
#: given) but is otherwise visible text.
OptionalFormText = Annotated[
    str,
    AfterValidator(require_visible_or_empty),
    Field(json_schema_extra={"pattern": f"^$|{VISIBLE_PATTERN}"}),
]
