"""The course owner's privacy page: what is redacted from transcripts, the roster's names,
and how long recordings are kept.

A thin route over the same service calls as ``GET``/``PUT /api/v1/courses/{id}/privacy``
(``courses.service.get_privacy``, ``set_privacy``). One form that works without JavaScript
(checkboxes, a textarea with one name per line, a number field), posted with the CSRF
field and the policy's ETag, so a change made elsewhere in the meantime is never silently
overwritten. The page's sentences are its own, built from the error's field and problem,
never an exception's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pegasus.courses import service as courses
from pegasus.courses.schemas import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS
from pegasus.db.models import Course
from pegasus.dependencies import RuntimeDep, SessionDep
from pegasus.errors import EditConflictError, InvalidRequestError, NotFoundError
from pegasus.routing import UnitOfWorkRoute
from pegasus.transcription.pii import MAX_NAME_CHARS, MAX_ROSTER_NAMES, PLACEHOLDERS, PiiKind
from pegasus.web.auth import PageUserDep
from pegasus.web.messages import REQUEST_MESSAGES
from pegasus.web.pages import render

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

#: Longest roster textarea accepted: every name at its longest, one per line.
ROSTER_FIELD_MAX_CHARS = MAX_ROSTER_NAMES * (MAX_NAME_CHARS + 2)


@dataclass(frozen=True)
class KindChoice:
    """One checkbox of the page."""

    value: str
    label: str
    hint: str
    placeholder: str


KIND_CHOICES = (
    KindChoice(
        PiiKind.EMAIL.value,
        "E-mail addresses",
        "Written (jane.doe@example.com) and spoken (jane dot doe at example dot com).",
        PLACEHOLDERS[PiiKind.EMAIL],
    ),
    KindChoice(
        PiiKind.PHONE.value,
        "Phone numbers",
        "7 or more digits written in groups, or after a +.",
        PLACEHOLDERS[PiiKind.PHONE],
    ),
    KindChoice(
        PiiKind.ID_NUMBER.value,
        "Student and ID numbers",
        "6 or more digits in a row, and codes like A1234567. Years and small numbers stay.",
        PLACEHOLDERS[PiiKind.ID_NUMBER],
    ),
    KindChoice(
        PiiKind.ROSTER_NAME.value,
        "Names on the roster",
        "Full names, and first names or surnames alone.",
        PLACEHOLDERS[PiiKind.ROSTER_NAME],
    ),
)


def _problem_sentence(exc: InvalidRequestError) -> dict[str, str]:
    """The page's own sentence for a refused field (from its field and problem)."""
    field = str(exc.context.get("field", ""))
    problem = exc.context.get("problem")
    position = exc.context.get("position")
    if field == "roster_names":
        if problem == "control_character":
            text = f"Name {position} holds a character that cannot be used; type it again"
        elif problem == "too_long":
            text = f"Name {position} is longer than {MAX_NAME_CHARS} characters; shorten it"
        else:
            text = f"Enter at most {MAX_ROSTER_NAMES} names"
        return {"field": "roster", "message": text}
    if field == "audio_retention_days":
        return {
            "field": "retention_days",
            "message": f"Enter a number of days from {MIN_RETENTION_DAYS} to "
            f"{MAX_RETENTION_DAYS}, or leave it empty",
        }
    return {"field": "kinds", "message": "Choose from the kinds of personal data listed"}


def _page(
    request: Request,
    course: Course,
    runtime: RuntimeDep,
    *,
    policy: courses.PrivacyPolicy,
    errors: list[dict[str, str]] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The page, showing ``form`` (what was posted) when given, else the stored policy."""
    shown = form or {
        "kinds": list(policy.redaction_kinds),
        "roster": "\n".join(policy.roster_names),
        "retention_days": ""
        if policy.audio_retention_days is None
        else str(policy.audio_retention_days),
    }
    return render(
        request,
        "course_settings.html",
        {
            "course": course,
            "choices": KIND_CHOICES,
            "form": shown,
            "version": policy.etag,
            "errors": errors or [],
            "default_days": runtime.settings.privacy.audio_retention_days,
            "min_days": MIN_RETENTION_DAYS,
            "max_days": MAX_RETENTION_DAYS,
            "max_names": MAX_ROSTER_NAMES,
            "max_name_chars": MAX_NAME_CHARS,
            "saved": request.query_params.get("saved") == "1",
        },
        status_code=status_code,
    )


def _missing(request: Request) -> HTMLResponse:
    return render(
        request,
        "flow_missing.html",
        {"what": "course", "message": REQUEST_MESSAGES["not_found"]},
        status_code=404,
    )


@router.get("/courses/{course_id}/privacy", response_class=HTMLResponse)
def privacy_page(
    request: Request,
    course_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:
    try:
        course = courses.get_course(session, user.id, course_id)
    except NotFoundError:
        return _missing(request)
    return _page(request, course, runtime, policy=courses.get_privacy(session, user.id, course.id))


@router.post("/courses/{course_id}/privacy", response_model=None)
def save_privacy(
    request: Request,
    course_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    kinds: Annotated[list[str] | None, Form(max_length=16)] = None,
    roster: Annotated[str, Form(max_length=ROSTER_FIELD_MAX_CHARS)] = "",
    retention_days: Annotated[str, Form(max_length=20)] = "",
    version: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Save the form, then show the page again with "Saved" (303, so a reload does not
    post twice); a refused field shows the page again with the learner's input kept."""
    try:
        course = courses.get_course(session, user.id, course_id)
    except NotFoundError:
        return _missing(request)
    chosen = [kind for kind in (kinds or []) if isinstance(kind, str)]
    form = {"kinds": chosen, "roster": roster, "retention_days": retention_days}
    names = roster.splitlines()
    days_text = retention_days.strip()
    days: int | None = None
    if days_text:
        try:
            days = int(days_text)
        except ValueError:
            return _page(
                request,
                course,
                runtime,
                policy=courses.get_privacy(session, user.id, course.id),
                errors=[
                    {
                        "field": "retention_days",
                        "message": "Enter the number of days as a whole number, like 180, "
                        "or leave it empty",
                    }
                ],
                form=form,
                status_code=422,
            )
    try:
        courses.set_privacy(
            session,
            user.id,
            course.id,
            redaction_kinds=chosen,
            roster_names=names,
            audio_retention_days=days,
            if_match=version or None,
        )
    except EditConflictError:
        message = REQUEST_MESSAGES["edit.conflict"]
        return _page(
            request,
            course,
            runtime,
            policy=courses.get_privacy(session, user.id, course.id),
            errors=[{"field": "", "message": f"{message.happened} {message.todo}"}],
            form=form,
            status_code=409,
        )
    except InvalidRequestError as exc:
        return _page(
            request,
            course,
            runtime,
            policy=courses.get_privacy(session, user.id, course.id),
            errors=[_problem_sentence(exc)],
            form=form,
            status_code=422,
        )
    return RedirectResponse(f"/courses/{course.id}/privacy?saved=1", status_code=303)
