"""Pages after processing: review a lecture, study its flashcards, practise its quiz, search.

Thin routes: what they show comes from the services the API uses (``lectures.service``,
``lectures.review``, ``search.service``); edits, regenerate and downloads go through the
API from the pages' scripts (``static/js/review.js`` and friends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from pegasus.db.models import Lecture, LectureStatus
from pegasus.dependencies import RuntimeDep, SessionDep
from pegasus.errors import NotFoundError
from pegasus.exports.bundle import safe_stem
from pegasus.exports.formats import EXPORT_FORMATS
from pegasus.lectures import review, service
from pegasus.lectures.etags import item_etag
from pegasus.pipeline.export import export_kind
from pegasus.routing import UnitOfWorkRoute
from pegasus.search import service as search_service
from pegasus.search.repository import MARK_END, MARK_START
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript
from pegasus.web.auth import PageUserDep
from pegasus.web.messages import FALLBACK, message_for
from pegasus.web.pages import clock, render

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

#: Most search results one page shows.
SEARCH_LIMIT = 50
#: Longest query the search page accepts (the API's limit too).
QUERY_MAX_CHARS = 200

#: What each export button says, in the order the buttons appear.
EXPORT_LABELS: dict[str, str] = {
    "apkg": "Anki deck (.apkg)",
    "pdf": "PDF",
    "md": "Markdown notes",
    "csv": "Quizlet CSV",
    "srt": "Subtitles (SRT)",
    "vtt": "Subtitles (VTT)",
    "json": "JSON (everything)",
    "zip": "All files (zip)",
}


def seek_fragment(seconds: float) -> str:
    """The review page's URL fragment that seeks to ``seconds`` (``t=12.34``)."""
    return "t=" + (f"{max(0.0, seconds):.3f}".rstrip("0").rstrip(".") or "0")


def safe_snippet(snippet: str) -> Markup:
    """A search snippet as HTML: everything escaped, then only the ``<mark>`` tags that the
    search index put around matches turned back into tags."""
    escaped = str(escape(snippet))
    return Markup(  # nosec B704  # escaped above; only <mark> is restored
        escaped.replace(str(escape(MARK_START)), MARK_START).replace(
            str(escape(MARK_END)), MARK_END
        )
    )


@dataclass(frozen=True)
class SegmentView:
    position: int
    start: float
    end: float
    text: str
    etag: str
    edited: bool

    @property
    def clock(self) -> str:
        return clock(self.start)


@dataclass(frozen=True)
class ExportLink:
    fmt: str
    label: str
    filename: str
    href: str


#: Error codes the review scripts can meet; their messages go into the page for the scripts.
SCRIPT_ERROR_CODES = (
    "edit.conflict",
    "lecture.busy",
    "conflict",
    "not_found",
    "request.invalid",
    "request.too_large",
    "auth.required",
    "auth.csrf",
    "service.busy",
    "http.error",
)


def script_messages() -> dict[str, dict[str, str]]:
    """The learner's messages for ``SCRIPT_ERROR_CODES`` (and ``fallback``), for scripts."""
    table = {code: message_for(code).as_dict() for code in SCRIPT_ERROR_CODES}
    return {**table, "fallback": FALLBACK.as_dict()}


def _not_found(request: Request) -> HTMLResponse:
    return render(request, "lecture_missing.html", {}, status_code=404)


def _segments(lecture_id: str, transcript: Transcript) -> list[SegmentView]:
    return [
        SegmentView(
            position=position,
            start=segment.start,
            end=segment.end,
            text=segment.text.strip(),
            etag=item_etag("segment", lecture_id, position, segment.version),
            edited=segment.edited,
        )
        for position, segment in enumerate(transcript.segments)
    ]


def _exports(lecture: Lecture) -> list[ExportLink]:
    """A link per export the pipeline stored for ``lecture``, in ``EXPORT_LABELS`` order."""
    stored = {artifact.kind for artifact in lecture.artifacts}
    links = []
    for fmt in EXPORT_LABELS:
        if export_kind(fmt) in stored and fmt in EXPORT_FORMATS:
            extension = EXPORT_FORMATS[fmt].extension
            links.append(
                ExportLink(
                    fmt=fmt,
                    label=EXPORT_LABELS[fmt],
                    filename=f"{safe_stem(lecture.title)}.{extension}",
                    href=f"/api/v1/lectures/{lecture.id}/exports/{fmt}",
                )
            )
    return links


def _kit_or_none(
    session: SessionDep, runtime: RuntimeDep, owner_id: str, lecture_id: str
) -> StudyKit | None:
    try:
        return review.read_kit(session, runtime.store, owner_id, lecture_id)
    except NotFoundError:
        return None


@router.get("/lectures/{lecture_id}/review", response_class=HTMLResponse)
def review_page(
    request: Request, lecture_id: str, user: PageUserDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The recording, its transcript (tap to seek, correct a segment), the kit, exports."""
    try:
        lecture = service.get_lecture(session, user.id, lecture_id)
    except NotFoundError:
        return _not_found(request)
    try:
        transcript: Transcript | None = service.read_transcript(
            session, runtime.store, user.id, lecture_id
        )
    except NotFoundError:
        transcript = None
    busy = lecture.status in (LectureStatus.QUEUED, LectureStatus.PROCESSING)
    return render(
        request,
        "review.html",
        {
            "lecture": lecture,
            "busy": busy,
            "segments": _segments(lecture.id, transcript) if transcript else [],
            "has_transcript": transcript is not None,
            "kit": _kit_or_none(session, runtime, user.id, lecture_id),
            "exports": [] if busy else _exports(lecture),
            "clock": clock,
            "seek": seek_fragment,
            "messages": script_messages(),
        },
    )


@router.get("/lectures/{lecture_id}/study", response_class=HTMLResponse)
def study_page(
    request: Request, lecture_id: str, user: PageUserDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The lecture's flashcards: a list without scripts, a one-card-at-a-time deck with."""
    return _kit_page(request, session, runtime, user.id, lecture_id, "study.html", "flashcards")


@router.get("/lectures/{lecture_id}/quiz", response_class=HTMLResponse)
def quiz_page(
    request: Request, lecture_id: str, user: PageUserDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The lecture's quiz in practice mode: answer, see why, jump to where it was said."""
    return _kit_page(request, session, runtime, user.id, lecture_id, "quiz.html", "quiz")


def _kit_page(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    owner_id: str,
    lecture_id: str,
    template: str,
    part: Literal["flashcards", "quiz"],
) -> HTMLResponse:
    """A page of one part of the lecture's kit (empty when there is no kit yet)."""
    try:
        lecture = service.get_lecture(session, owner_id, lecture_id)
    except NotFoundError:
        return _not_found(request)
    kit = _kit_or_none(session, runtime, owner_id, lecture_id)
    items = getattr(kit, part) if kit else []
    return render(
        request,
        template,
        {"lecture": lecture, "items": items, "clock": clock, "seek": seek_fragment},
    )


@dataclass(frozen=True)
class SearchResult:
    lecture_title: str
    href: str
    clock: str
    snippet: Markup


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    user: PageUserDep,
    session: SessionDep,
    q: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """Search the learner's transcripts; each result opens the review page at its moment."""
    query = " ".join(q.split())
    error = None
    results: list[SearchResult] = []
    if len(query) > QUERY_MAX_CHARS:
        error = f"Search for at most {QUERY_MAX_CHARS} characters; shorten your search."
    elif query:
        hits = search_service.search(session, owner_id=user.id, query=query, limit=SEARCH_LIMIT)
        results = [
            SearchResult(
                lecture_title=hit.lecture_title,
                href=f"/lectures/{hit.lecture_id}/review#{seek_fragment(hit.start)}",
                clock=clock(hit.start),
                snippet=safe_snippet(hit.snippet),
            )
            for hit in hits
        ]
    return render(
        request,
        "search.html",
        {"query": query, "results": results, "error": error, "searched": bool(query)},
        status_code=422 if error else 200,
    )
