"""Pages of the first-time flow: Course -> Preset -> Upload or Record -> Process status.

Thin routes: what they show comes from the services the API uses (``courses.service``,
``lectures.service``); the upload goes to the tus endpoint and live status to the event
stream from the pages' scripts (``static/js/upload.js``, ``recorder.js``, ``status.js``).
Forms post with the CSRF field and work before JavaScript loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pegasus.config import TRANSCRIPTION_MODES, TranscriptionMode
from pegasus.courses import service as courses
from pegasus.db.models import Course, StageName
from pegasus.dependencies import RuntimeDep, SessionDep
from pegasus.errors import EditConflictError, NotFoundError, PegasusError, UnknownPresetError
from pegasus.lectures import service as lectures
from pegasus.lectures.routes import accept_upload
from pegasus.lectures.schemas import LectureOut, StageOut
from pegasus.presets import BUILTIN_PRESETS, Preset, chosen_transcription_mode
from pegasus.routing import UnitOfWorkRoute
from pegasus.web.auth import PageUserDep
from pegasus.web.estimates import MODE_HINTS, MODE_LABELS, TRANSCRIBE_MINUTES_PER_HOUR
from pegasus.web.messages import (
    REQUEST_MESSAGES,
    LearnerMessage,
    client_table,
    message_for,
    stage_message_for,
)
from pegasus.web.pages import clock, render
from pegasus.web.preset_cards import PresetCard, preset_card

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

#: Upload chunk size the page's tus client uses (5 MiB: small enough for flaky phone links,
#: large enough that a 1-hour m4a is a dozen requests).
UPLOAD_CHUNK_BYTES = 5 * 1024 * 1024
#: What the learner sees for each stage.
STAGE_LABELS = {
    StageName.INGEST.value: "Check the recording",
    StageName.TRANSCRIBE.value: "Transcribe",
    StageName.GENERATE.value: "Make the study kit",
    StageName.EXPORT.value: "Write the downloads",
}
STATUS_LABELS = {
    "queued": "Waiting",
    "running": "Running",
    "processing": "Processing",
    "succeeded": "Done",
    "failed": "Failed",
    "waiting": "Not started",
}


@dataclass(frozen=True)
class StageRow:
    """One row of the status page: a stage as the server last recorded it."""

    stage: str
    label: str
    status: str
    status_label: str
    progress: float
    message: str
    attempt: int
    started_at: str | None
    finished_at: str | None
    elapsed: str
    failure: LearnerMessage | None


def stage_rows(lecture: LectureOut) -> list[StageRow]:
    """All four stages in pipeline order; a stage not reached yet is ``waiting``."""
    runs = {StageName(run.stage): run for run in lecture.stages}
    return [_row(name.value, runs.get(name)) for name in StageName]


def _row(stage: str, run: StageOut | None) -> StageRow:
    if run is None:
        return StageRow(
            stage=stage,
            label=STAGE_LABELS[stage],
            status="waiting",
            status_label=STATUS_LABELS["waiting"],
            progress=0.0,
            message="",
            attempt=0,
            started_at=None,
            finished_at=None,
            elapsed="",
            failure=None,
        )
    return StageRow(
        stage=stage,
        label=STAGE_LABELS[stage],
        status=run.status,
        status_label=STATUS_LABELS.get(run.status, run.status),
        progress=1.0 if run.status == "succeeded" else run.progress,
        message=run.message if run.status in ("queued", "running") else "",
        attempt=run.attempt,
        started_at=_iso(run.started_at),
        finished_at=_iso(run.finished_at),
        elapsed=elapsed_text(run.started_at, run.finished_at, failed=run.status == "failed"),
        failure=stage_message_for(run.error.code) if run.status == "failed" and run.error else None,
    )


def elapsed_text(started: datetime | None, finished: datetime | None, *, failed: bool) -> str:
    """E.g. "Took 0:42", "0:42 so far", "Stopped after 0:42" or "" (status.js writes the
    same while the page is open)."""
    if started is None:
        return ""
    end = _aware(finished) if finished else datetime.now(UTC)
    seconds = max(0.0, (end - _aware(started)).total_seconds())
    if finished is None:
        return f"{clock(seconds)} so far"
    if failed:
        return f"Stopped after {clock(seconds)}"
    return "Took under a second" if seconds < 1 else f"Took {clock(seconds)}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return _aware(value).isoformat()


def _missing(request: Request, what: str) -> HTMLResponse:
    return render(
        request,
        "flow_missing.html",
        {"what": what, "message": REQUEST_MESSAGES["not_found"]},
        status_code=404,
    )


# --- Course --------------------------------------------------------------------------------


@router.get("/courses", response_class=HTMLResponse)
def courses_page(request: Request, user: PageUserDep, session: SessionDep) -> HTMLResponse:
    return _courses(request, session, user.id)


def _courses(
    request: Request,
    session: SessionDep,
    owner_id: str,
    *,
    errors: list[dict[str, str]] | None = None,
    name: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    found = courses.list_courses(session, owner_id)
    return render(
        request,
        "courses.html",
        {"courses": found, "errors": errors or [], "name": name},
        status_code=status_code,
    )


@router.post("/courses", response_model=None)
def create_course(
    request: Request,
    user: PageUserDep,
    session: SessionDep,
    name: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Create a course, then go straight to choosing a preset for its first lecture."""
    try:
        course = courses.create_course(session, user.id, name)
    except PegasusError:
        # The service's rule (a name is required); the page says it in the learner's words.
        return _courses(
            request,
            session,
            user.id,
            errors=[{"field": "name", "message": "Enter a name for the course"}],
            name=name,
            status_code=422,
        )
    return RedirectResponse(f"/courses/{course.id}/new", status_code=303)


@router.get("/courses/{course_id}", response_class=HTMLResponse)
def course_page(
    request: Request, course_id: str, user: PageUserDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    try:
        course = courses.get_course(session, user.id, course_id)
    except NotFoundError:
        return _missing(request, "course")
    return _course(
        request,
        session,
        runtime,
        course,
        saved=request.query_params.get("saved") == "transcription",
    )


@dataclass(frozen=True)
class ModeChoice:
    """One radio button of the course page's transcription form ("" is the server's)."""

    value: str
    label: str
    hint: str


def mode_choices(default: TranscriptionMode, model: str) -> list[ModeChoice]:
    """The server's default first, then each mode, each with its time for a 1-hour lecture."""

    def time_of(mode: TranscriptionMode) -> str:
        minutes = TRANSCRIBE_MINUTES_PER_HOUR.get((model, mode))
        return f"; about {minutes:g} minutes per hour of lecture" if minutes else ""

    return [
        ModeChoice("", f"This server's default ({default})", "Follows the server's setting."),
        *(
            ModeChoice(mode, MODE_LABELS[mode], MODE_HINTS[mode].capitalize() + time_of(mode))
            for mode in TRANSCRIPTION_MODES
        ),
    ]


def _course(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    course: Course,
    *,
    saved: bool = False,
    errors: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = [
        LectureOut.from_lecture(lec)
        for lec in lectures.list_lectures(session, course.owner_id, course.id)
    ]
    found.sort(key=lambda lec: lec.created_at, reverse=True)
    speech = runtime.settings.transcription
    return render(
        request,
        "course.html",
        {
            "course": course,
            "lectures": found,
            "status_labels": STATUS_LABELS,
            "mode_choices": mode_choices(speech.mode, speech.model),
            "mode_chosen": course.transcription_mode or "",
            "version": courses.course_etag(course),
            "saved": saved,
            "errors": errors or [],
        },
        status_code=status_code,
    )


@router.post("/courses/{course_id}/transcription", response_model=None)
def save_transcription_mode(
    request: Request,
    course_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    mode: Annotated[str, Form(max_length=32)] = "",
    version: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The course page's transcription form: the same service call as ``PATCH
    /api/v1/courses/{id}``; then the page again with "Saved" (303, so a reload does not
    post twice)."""
    try:
        course = courses.get_course(session, user.id, course_id)
        courses.update_course(
            session, user.id, course.id, transcription_mode=mode or None, if_match=version or None
        )
    except NotFoundError:
        return _missing(request, "course")
    except EditConflictError:
        message = REQUEST_MESSAGES["edit.conflict"]
        error = {"field": "", "message": f"{message.happened} {message.todo}"}
        return _course(request, session, runtime, course, errors=[error], status_code=409)
    except courses.UnknownTranscriptionModeError:
        error = {"field": "mode", "message": "Choose one of the transcription modes listed"}
        return _course(request, session, runtime, course, errors=[error], status_code=422)
    return RedirectResponse(f"/courses/{course.id}?saved=transcription", status_code=303)


# --- Preset --------------------------------------------------------------------------------


@router.get("/courses/{course_id}/new", response_class=HTMLResponse)
def presets_page(
    request: Request,
    course_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:
    try:
        course = courses.get_course(session, user.id, course_id)
    except NotFoundError:
        return _missing(request, "course")
    external = bool(runtime.settings.llm.base_url)
    # The built-ins in their catalogue order (the default first), then the course's own.
    order = {key: index for index, key in enumerate(BUILTIN_PRESETS)}
    found = sorted(courses.list_presets(session, course.id), key=lambda p: order.get(p.key, 99))
    cards = [_card(p, course, runtime, external_generator=external) for p in found]
    return render(request, "presets.html", {"course": course, "cards": cards})


def _card(
    preset: Preset, course: Course, runtime: RuntimeDep, *, external_generator: bool = False
) -> PresetCard:
    """``preset``'s card with the mode its lectures in ``course`` get and their time."""
    speech = runtime.settings.transcription
    mode = chosen_transcription_mode(preset, course.transcription_mode) or speech.mode
    return preset_card(preset, model=speech.model, mode=mode, external_generator=external_generator)


# --- Upload or Record ----------------------------------------------------------------------


@router.get("/courses/{course_id}/new/{preset_key}", response_class=HTMLResponse)
def capture_page(
    request: Request,
    course_id: str,
    preset_key: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:
    try:
        course = courses.get_course(session, user.id, course_id)
        preset = courses.resolve_preset(session, preset_key, course_id=course.id)
    except NotFoundError:
        return _missing(request, "course")
    except UnknownPresetError:
        return _missing(request, "preset")
    max_bytes = runtime.settings.media.max_upload_bytes
    return render(
        request,
        "capture.html",
        {
            "course": course,
            "preset": _card(preset, course, runtime),
            "max_bytes": max_bytes,
            "max_mb": f"{max_bytes / 1_000_000:.0f}",
            "chunk_bytes": UPLOAD_CHUNK_BYTES,
            "messages": client_table(),
        },
    )


@router.post("/courses/{course_id}/lectures", response_model=None)
def upload_without_script(
    request: Request,
    course_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File()],
    preset: Annotated[str, Form(max_length=200)],
    title: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """The upload form before its script loads (one plain POST, not resumable): the same
    service call as the API's multipart upload. The path ends in ``/lectures`` so the body
    limit middleware applies the upload limit to it."""
    try:
        lecture = accept_upload(
            session,
            runtime,
            owner_id=user.id,
            course_id=course_id,
            file=file,
            title=title or None,
            preset=preset,
        )
    except NotFoundError:
        return _missing(request, "course")
    except PegasusError as exc:
        return render(
            request,
            "flow_missing.html",
            {"what": "upload", "message": message_for(exc.code), "course_id": course_id},
            status_code=422,
        )
    return RedirectResponse(f"/lectures/{lecture.id}", status_code=303)


# --- Process status ------------------------------------------------------------------------


@router.get("/lectures/{lecture_id}", response_class=HTMLResponse)
def status_page(
    request: Request, lecture_id: str, user: PageUserDep, session: SessionDep
) -> HTMLResponse:
    try:
        lecture = lectures.get_lecture(session, user.id, lecture_id)
    except NotFoundError:
        return _missing(request, "lecture")
    course: Course | None = session.get(Course, lecture.course_id)
    out = LectureOut.from_lecture(lecture)
    return render(
        request,
        "status.html",
        {
            "lecture": out,
            "course": course,
            "rows": stage_rows(out),
            "status_label": STATUS_LABELS.get(out.status, out.status),
            "lecture_json": out.model_dump(mode="json"),
            "stage_labels": STAGE_LABELS,
            "status_labels": STATUS_LABELS,
            "messages": client_table(),
            "retry_error": message_for(code)
            if (code := request.query_params.get("retry_error"))
            else None,
        },
    )


@router.post("/lectures/{lecture_id}/retry", response_model=None)
def retry(
    request: Request,
    lecture_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """The Retry button without JavaScript: the same service call as the API's retry."""
    try:
        lectures.retry_lecture(session, runtime.dispatcher, user.id, lecture_id)
    except NotFoundError:
        return _missing(request, "lecture")
    except PegasusError as exc:
        return RedirectResponse(f"/lectures/{lecture_id}?retry_error={exc.code}", status_code=303)
    return RedirectResponse(f"/lectures/{lecture_id}", status_code=303)
