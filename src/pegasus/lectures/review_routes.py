"""Review endpoints: read the kit, correct the transcript and items, regenerate.

GET kit and every PATCH answer with an ``ETag``; PATCH and DELETE take ``If-Match`` and
answer 412 ``edit.conflict`` when it is stale (scheme: ``pegasus.lectures.etags``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel, Field

from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.lectures import review
from pegasus.lectures.schemas import LectureOut
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


class SegmentEdit(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class FlashcardEdit(BaseModel):
    front: str | None = Field(default=None, min_length=1, max_length=2000)
    back: str | None = Field(default=None, min_length=1, max_length=2000)


class QuizEdit(BaseModel):
    question: str | None = Field(default=None, min_length=1, max_length=2000)
    options: list[str] | None = Field(default=None, min_length=4, max_length=4)
    answer_index: int | None = Field(default=None, ge=0, le=3)
    explanation: str | None = Field(default=None, min_length=1, max_length=2000)


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


@router.patch("/flashcards/{item_id}", response_model=StudyKit, summary="Edit a flashcard")
def edit_flashcard(
    lecture_id: str,
    item_id: ItemId,
    body: FlashcardEdit,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> StudyKit:
    edited = review.edit_item(
        session,
        runtime.store,
        user.id,
        lecture_id,
        collection="flashcards",
        item_id=item_id,
        changes=body.model_dump(exclude_none=True),
        if_match=if_match,
    )
    response.headers["ETag"] = edited.etag
    return edited.value


@router.delete(
    "/flashcards/{item_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a flashcard"
)
def delete_flashcard(
    lecture_id: str,
    item_id: ItemId,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
) -> Response:
    review.delete_item(
        session,
        runtime.store,
        user.id,
        lecture_id,
        collection="flashcards",
        item_id=item_id,
        if_match=if_match,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/quiz/{item_id}", response_model=StudyKit, summary="Edit a quiz item")
def edit_quiz_item(
    lecture_id: str,
    item_id: ItemId,
    body: QuizEdit,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> StudyKit:
    edited = review.edit_item(
        session,
        runtime.store,
        user.id,
        lecture_id,
        collection="quiz",
        item_id=item_id,
        changes=body.model_dump(exclude_none=True),
        if_match=if_match,
    )
    response.headers["ETag"] = edited.etag
    return edited.value


@router.delete(
    "/quiz/{item_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a quiz item"
)
def delete_quiz_item(
    lecture_id: str,
    item_id: ItemId,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
) -> Response:
    review.delete_item(
        session,
        runtime.store,
        user.id,
        lecture_id,
        collection="quiz",
        item_id=item_id,
        if_match=if_match,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
