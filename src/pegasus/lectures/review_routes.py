"""Review endpoints: read the kit, correct the transcript and items, regenerate.

GET kit and every PATCH answer with an ``ETag``; PATCH and DELETE take ``If-Match`` and
answer 412 ``edit.conflict`` when it is stale (scheme: ``pegasus.lectures.etags``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Response, status
from pydantic import BaseModel

from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.lectures import review
from pegasus.lectures.review import KitCollection
from pegasus.lectures.schemas import FlashcardEdit, LectureOut, QuizEdit, SegmentEdit
from pegasus.routing import UnitOfWorkRoute
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

router = APIRouter(
    route_class=UnitOfWorkRoute, prefix="/api/v1/lectures/{lecture_id}", tags=["review"]
)

ItemId = Annotated[str, Path(min_length=1, max_length=64)]
IfMatch = Annotated[
    str | None,
    Header(
        description=(
            "Only apply the change if the item is unchanged: the item's ETag (from a PATCH "
            "response, or built from its version), the ETag of the whole transcript or kit "
            "from GET, or *. Stale: 412 edit.conflict."
        ),
        max_length=1000,
    ),
]


@router.get("/kit", response_model=StudyKit, summary="The generated study kit")
def get_kit(
    lecture_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep, response: Response
) -> StudyKit:
    kit = review.read_kit_versioned(session, runtime.store, user.id, lecture_id)
    response.headers["ETag"] = kit.etag
    return kit.value


@router.patch(
    "/transcript/segments/{position}",
    response_model=Transcript,
    summary="Correct a transcript segment's text (times are kept)",
)
def edit_segment(
    lecture_id: str,
    position: int,
    body: SegmentEdit,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Transcript:
    edited = review.edit_segment(
        session, runtime.store, user.id, lecture_id, position, body.text, if_match=if_match
    )
    response.headers["ETag"] = edited.etag
    return edited.value


def kit_item(
    lecture_id: str, item_id: ItemId, user: UserDep, if_match: IfMatch = None
) -> review.ItemRef:
    """The kit item a PATCH or DELETE names, for the signed-in learner."""
    return review.ItemRef(user.id, lecture_id, item_id, if_match)


KitItemDep = Annotated[review.ItemRef, Depends(kit_item)]


def _item_routes(collection: KitCollection, body_model: type[BaseModel], noun: str) -> None:
    """PATCH and DELETE ``/{collection}/{item_id}``: one definition for every kind of kit
    item, each with its own request schema (``body_model``)."""

    def edit(
        body: BaseModel,
        item: KitItemDep,
        session: SessionDep,
        runtime: RuntimeDep,
        response: Response,
    ) -> StudyKit:
        changes = body.model_dump(exclude_none=True)
        edited = review.edit_item(session, runtime.store, collection, item, changes)
        response.headers["ETag"] = edited.etag
        return edited.value

    def delete(item: KitItemDep, session: SessionDep, runtime: RuntimeDep) -> Response:
        review.delete_item(session, runtime.store, collection, item)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # FastAPI reads the body's schema from the annotation: this collection's own.
    edit.__annotations__["body"] = body_model
    name = noun.replace(" ", "_")
    router.add_api_route(
        f"/{collection}/{{item_id}}",
        edit,
        methods=["PATCH"],
        response_model=StudyKit,
        summary=f"Edit a {noun}",
        name=f"edit_{name}",
    )
    router.add_api_route(
        f"/{collection}/{{item_id}}",
        delete,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete a {noun}",
        name=f"delete_{name}",
    )


_item_routes("flashcards", FlashcardEdit, "flashcard")
_item_routes("quiz", QuizEdit, "quiz item")


@router.post(
    "/regenerate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LectureOut,
    summary="Rebuild the kit and exports from the (edited) transcript, keeping your edits",
)
def regenerate(
    lecture_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> LectureOut:
    return LectureOut.from_lecture(
        review.regenerate(session, runtime.dispatcher, user.id, lecture_id)
    )
