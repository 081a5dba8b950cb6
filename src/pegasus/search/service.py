"""Searching a learner's transcripts: what a query means (its words), whose lectures it sees.

Queries live in ``repository``; routes and pages call this module.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from pegasus.search import repository
from pegasus.search.repository import Hit

#: A word of a query: letters, digits and underscores in any script. Everything else
#: (quotes, operators, punctuation) separates words and is never passed to the index.
_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The words of ``query`` that the index is asked for, in order."""
    return _WORD.findall(query)


def search(session: Session, *, owner_id: str, query: str, limit: int) -> list[Hit]:
    """Segments of ``owner_id``'s lectures holding every word of ``query``, best first; none
    when the query has no words (only punctuation or operators)."""
    words = query_words(query)
    if not words:
        return []
    return repository.find_segments(session, owner_id=owner_id, words=words, limit=limit)
