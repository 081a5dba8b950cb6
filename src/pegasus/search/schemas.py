"""HTTP shapes of search results."""

from __future__ import annotations

from pydantic import BaseModel


class SearchHit(BaseModel):
    lecture_id: str
    lecture_title: str
    course_id: str
    start: float
    end: float
    snippet: str  # the segment's text around the match, matches wrapped in <mark></mark>


class SearchResults(BaseModel):
    query: str
    hits: list[SearchHit]
