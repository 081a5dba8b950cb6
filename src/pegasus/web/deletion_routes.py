"""Deleting from the web app: a confirmation page for a course, a lecture or (admins) a
user, then the deletion's own page, which shows its progress and, once everything is
removed and checked, links its receipt. ``/deletions`` lists the receipts.

The course and lecture pages delete one's own (an admin deletes others' through the API or
by deleting the user). Forms work without JavaScript; a pending deletion's page reloads
itself every few seconds (the ``Refresh`` header). The rules live in ``pegasus.deletion``.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pegasus.accounts import admin as accounts_admin
from pegasus.courses import service as courses
from pegasus.db.base import utcnow
from pegasus.db.models import Deletion
from pegasus.deletion import purge
from pegasus.deletion import service as deletions
from pegasus.dependencies import RuntimeDep, SessionDep
from pegasus.errors import ConflictError, NotFoundError
from pegasus.lectures import service as lectures
from pegasus.routing import UnitOfWorkRoute
from pegasus.runtime import Runtime
from pegasus.web.auth import PageUserDep
from pegasus.web.messages import REQUEST_MESSAGES
from pegasus.web.pages import render

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

#: Seconds between reloads of a pending deletion's page.
REFRESH_SECONDS = 3


def _missing(request: Request, what: str) -> HTMLResponse:
    return render(
        request,
        "flow_missing.html",
        {"what": what, "message": REQUEST_MESSAGES["not_found"]},
        status_code=404,
    )


def _confirm(
    request: Request, *, heading: str, text: str, action: str, button: str, back: str
) -> HTMLResponse:
    context = {"heading": heading, "text": text, "action": action, "button": button, "back": back}
    return render(request, "account_confirm.html", context)


def _started(runtime: Runtime, tasks: BackgroundTasks, deletion: Deletion) -> RedirectResponse:
    """After the request's commit, purge at once (the reconciler retries it otherwise), and
    send the browser to the deletion's page."""
    tasks.add_task(
        purge.purge_one, runtime.session_factory, runtime.store, deletion.id, now=utcnow()
    )
    return RedirectResponse(f"/deletions/{deletion.id}", status_code=303, background=tasks)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@router.get("/courses/{course_id}/delete", response_class=HTMLResponse)
def confirm_course_deletion(
    request: Request, course_id: str, user: PageUserDep, session: SessionDep
) -> HTMLResponse:
    try:
        course = courses.get_course(session, user.id, course_id)
    except NotFoundError:
        return _missing(request, "course")
    count = len(lectures.list_lectures(session, user.id, course.id))
    return _confirm(
        request,
        heading=f"Delete the course “{course.name}”?",
        text=f"This deletes {_plural(count, 'lecture')} with their recordings, transcripts, "
        "study kits and exports, and the course's own presets. It cannot be undone. You get "
        "a receipt once everything is removed.",
        action=f"/courses/{course.id}/delete",
        button="Delete course",
        back=f"/courses/{course.id}",
    )


@router.post("/courses/{course_id}/delete", response_model=None)
def delete_course(
    request: Request,
    course_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tasks: BackgroundTasks,
) -> HTMLResponse | RedirectResponse:
    try:
        course = courses.get_course(session, user.id, course_id)  # pages: one's own only
        deletion = deletions.request_course_deletion(session, user, course.id, utcnow())
    except NotFoundError:
        return _missing(request, "course")
    return _started(runtime, tasks, deletion)


@router.get("/lectures/{lecture_id}/delete", response_class=HTMLResponse)
def confirm_lecture_deletion(
    request: Request, lecture_id: str, user: PageUserDep, session: SessionDep
) -> HTMLResponse:
    try:
        lecture = lectures.get_lecture(session, user.id, lecture_id)
    except NotFoundError:
        return _missing(request, "lecture")
    return _confirm(
        request,
        heading=f"Delete the lecture “{lecture.title}”?",
        text="This deletes its recording, transcript, study kit and exports. It cannot be "
        "undone. You get a receipt once everything is removed.",
        action=f"/lectures/{lecture.id}/delete",
        button="Delete lecture",
        back=f"/lectures/{lecture.id}",
    )


@router.post("/lectures/{lecture_id}/delete", response_model=None)
def delete_lecture(
    request: Request,
    lecture_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tasks: BackgroundTasks,
) -> HTMLResponse | RedirectResponse:
    try:
        lecture = lectures.get_lecture(session, user.id, lecture_id)  # pages: one's own only
        deletion = deletions.request_lecture_deletion(session, user, lecture.id, utcnow())
    except NotFoundError:
        return _missing(request, "lecture")
    return _started(runtime, tasks, deletion)


@router.get("/account/users/{user_id}/delete", response_class=HTMLResponse)
def confirm_user_deletion(
    request: Request, user_id: str, user: PageUserDep, session: SessionDep
) -> HTMLResponse:
    if not user.is_admin:
        return _missing(request, "user")
    try:
        target = accounts_admin.find_user(session, user_id)
    except NotFoundError:
        return _missing(request, "user")
    return _confirm(
        request,
        heading=f"Delete the account {target.email}?",
        text="They are signed out everywhere at once and their API tokens stop working. "
        "Every course and lecture they own is deleted with its recordings, transcripts, "
        "study kits and exports. It cannot be undone. You get a receipt once everything is "
        "removed.",
        action=f"/account/users/{target.id}/delete",
        button="Delete account",
        back="/account/users",
    )


@router.post("/account/users/{user_id}/delete", response_model=None)
def delete_user(
    request: Request,
    user_id: str,
    user: PageUserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tasks: BackgroundTasks,
) -> HTMLResponse | RedirectResponse:
    if not user.is_admin:
        return _missing(request, "user")
    try:
        deletion = deletions.request_user_deletion(session, user, user_id, utcnow())
    except NotFoundError:
        return _missing(request, "user")
    except ConflictError as exc:
        return render(
            request,
            "account_message.html",
            {"heading": "Not deleted", "text": exc.message, "back": "/account/users"},
            status_code=409,
        )
    return _started(runtime, tasks, deletion)


@router.get("/deletions", response_class=HTMLResponse)
def deletions_page(request: Request, user: PageUserDep, session: SessionDep) -> HTMLResponse:
    found = deletions.list_deletions(session, user)
    return render(request, "deletions.html", {"deletions": found})


@router.get("/deletions/{deletion_id}", response_class=HTMLResponse)
def deletion_page(
    request: Request, deletion_id: str, user: PageUserDep, session: SessionDep
) -> HTMLResponse:
    try:
        deletion = deletions.get_deletion(session, user, deletion_id)
    except NotFoundError:
        return _missing(request, "deletion")
    response = render(request, "deletion.html", {"deletion": deletion})
    if deletion.status != "completed":
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response
