"""Deletion endpoints: delete a lecture, a course or a user; follow it; download its receipt.

A DELETE answers 202 with the deletion at once (the subject is already gone from every
listing); the purge starts right after the response and, should it not finish, the
reconciler's housekeeping retries it until it does.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Response, status
from sqlalchemy.orm import Session, sessionmaker

from pegasus.db.base import utcnow
from pegasus.deletion import purge, service
from pegasus.deletion.schemas import DeletionOut, ReceiptOut
from pegasus.dependencies import AdminDep, RuntimeDep, SessionDep, UserDep
from pegasus.routing import UnitOfWorkRoute
from pegasus.storage.base import ObjectStore

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1", tags=["deletion"])


def _purge_now(
    session_factory: sessionmaker[Session], store: ObjectStore, deletion_id: str
) -> None:
    purge.purge_one(session_factory, store, deletion_id, now=utcnow())


@router.delete(
    "/lectures/{lecture_id}",
    summary="Delete a lecture with everything made from it (owner or admin)",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeletionOut,
)
def delete_lecture(
    lecture_id: str,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tasks: BackgroundTasks,
) -> DeletionOut:
    deletion = service.request_lecture_deletion(session, user, lecture_id, utcnow())
    tasks.add_task(_purge_now, runtime.session_factory, runtime.store, deletion.id)
    return DeletionOut.of(deletion)


@router.delete(
    "/courses/{course_id}",
    summary="Delete a course with all its lectures and presets (owner or admin)",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeletionOut,
)
def delete_course(
    course_id: str,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tasks: BackgroundTasks,
) -> DeletionOut:
    deletion = service.request_course_deletion(session, user, course_id, utcnow())
    tasks.add_task(_purge_now, runtime.session_factory, runtime.store, deletion.id)
    return DeletionOut.of(deletion)


@router.delete(
    "/users/{user_id}",
    summary="Delete a user and everything they own (admin); their sign-ins end at once",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeletionOut,
)
def delete_user(
    user_id: str,
    admin: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tasks: BackgroundTasks,
) -> DeletionOut:
    deletion = service.request_user_deletion(session, admin, user_id, utcnow())
    tasks.add_task(_purge_now, runtime.session_factory, runtime.store, deletion.id)
    return DeletionOut.of(deletion)


@router.get(
    "/deletions",
    response_model=list[DeletionOut],
    summary="Your deletions, newest first (every deletion, for an admin)",
)
def list_deletions(user: UserDep, session: SessionDep) -> list[DeletionOut]:
    return [DeletionOut.of(d) for d in service.list_deletions(session, user)]


@router.get("/deletions/{deletion_id}", response_model=DeletionOut, summary="One deletion")
def get_deletion(deletion_id: str, user: UserDep, session: SessionDep) -> DeletionOut:
    return DeletionOut.of(service.get_deletion(session, user, deletion_id))


@router.get(
    "/deletions/{deletion_id}/receipt",
    response_model=ReceiptOut,
    summary="Download the receipt of a completed deletion (409 `deletion.pending` before)",
)
def download_receipt(
    deletion_id: str, user: UserDep, session: SessionDep, response: Response
) -> ReceiptOut:
    deletion = service.receipt_for(session, user, deletion_id, utcnow())
    response.headers["Content-Disposition"] = (
        f'attachment; filename="deletion-receipt-{deletion.id}.json"'
    )
    return ReceiptOut.of(deletion)
