"""Course and preset endpoints, and the course's PII policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from pegasus.courses import service
from pegasus.courses.schemas import (
    CourseCreate,
    CourseOut,
    CoursePatch,
    PresetCreate,
    PresetOut,
    PrivacyPolicyIn,
    PrivacyPolicyOut,
)
from pegasus.dependencies import RuntimeDep, SessionDep, UserDep
from pegasus.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1", tags=["courses"])


@router.post("/courses", status_code=status.HTTP_201_CREATED, response_model=CourseOut)
def create_course(body: CourseCreate, user: UserDep, session: SessionDep) -> CourseOut:
    course = service.create_course(session, user.id, body.name)
    return CourseOut.model_validate(course)


@router.get("/courses", response_model=list[CourseOut])
def list_courses(user: UserDep, session: SessionDep) -> list[CourseOut]:
    return [CourseOut.model_validate(c) for c in service.list_courses(session, user.id)]


@router.get("/courses/{course_id}", response_model=CourseOut)
def get_course(course_id: str, user: UserDep, session: SessionDep, response: Response) -> CourseOut:
    course = service.get_course(session, user.id, course_id)
    response.headers["ETag"] = service.course_etag(course)
    return CourseOut.model_validate(course)


@router.get("/presets", response_model=list[PresetOut], summary="The built-in presets")
def list_presets(user: UserDep, session: SessionDep) -> list[PresetOut]:
    return [PresetOut.model_validate(p) for p in service.list_presets(session)]


@router.get(
    "/courses/{course_id}/presets",
    response_model=list[PresetOut],
    summary="Presets a lecture of this course can use: the built-ins and the course's own",
)
def list_course_presets(course_id: str, user: UserDep, session: SessionDep) -> list[PresetOut]:
    course = service.get_course(session, user.id, course_id)
    return [PresetOut.model_validate(p) for p in service.list_presets(session, course.id)]


@router.post(
    "/courses/{course_id}/presets",
    status_code=status.HTTP_201_CREATED,
    response_model=PresetOut,
    summary="Add a preset of your own to a course",
)
def create_course_preset(
    course_id: str, body: PresetCreate, user: UserDep, session: SessionDep
) -> PresetOut:
    preset = service.create_course_preset(session, user.id, course_id, body)
    return PresetOut.model_validate(preset)


IfMatch = Annotated[
    str | None,
    Header(
        description=(
            "Only apply the change if the policy is unchanged since you read it: the ETag "
            "from GET (or *). Stale: 412 edit.conflict."
        ),
        max_length=1000,
    ),
]


CourseIfMatch = Annotated[
    str | None,
    Header(
        description=(
            "Only apply the change if the course is unchanged since you read it: the ETag "
            "from GET (or *). Stale: 412 edit.conflict."
        ),
        max_length=1000,
    ),
]


@router.patch(
    "/courses/{course_id}",
    response_model=CourseOut,
    summary="Change a course: its transcription mode (fast or accurate; null: the server's "
    "default). Applies to lectures transcribed from now on whose preset names no mode",
)
def patch_course(
    course_id: str,
    body: CoursePatch,
    user: UserDep,
    session: SessionDep,
    response: Response,
    if_match: CourseIfMatch = None,
) -> CourseOut:
    course = service.get_course(session, user.id, course_id)
    if "transcription_mode" in body.model_fields_set:
        course = service.update_course(
            session,
            user.id,
            course_id,
            transcription_mode=body.transcription_mode,
            if_match=if_match,
        )
    response.headers["ETag"] = service.course_etag(course)
    return CourseOut.model_validate(course)


def _privacy_out(policy: service.PrivacyPolicy, default_days: int) -> PrivacyPolicyOut:
    return PrivacyPolicyOut(
        redaction_kinds=list(policy.redaction_kinds),
        roster_names=list(policy.roster_names),
        audio_retention_days=policy.audio_retention_days,
        default_audio_retention_days=default_days,
    )


@router.get(
    "/courses/{course_id}/privacy",
    response_model=PrivacyPolicyOut,
    summary="The course's PII policy: what is redacted from transcripts, and how long "
    "recordings are kept",
)
def get_privacy(
    course_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep, response: Response
) -> PrivacyPolicyOut:
    policy = service.get_privacy(session, user.id, course_id)
    response.headers["ETag"] = policy.etag
    return _privacy_out(policy, runtime.settings.privacy.audio_retention_days)


@router.put(
    "/courses/{course_id}/privacy",
    response_model=PrivacyPolicyOut,
    summary="Replace the course's PII policy (applies to lectures transcribed from now on; "
    "retention applies to every recording of the course)",
)
def put_privacy(
    course_id: str,
    body: PrivacyPolicyIn,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> PrivacyPolicyOut:
    policy = service.set_privacy(
        session,
        user.id,
        course_id,
        redaction_kinds=body.redaction_kinds,
        roster_names=body.roster_names,
        audio_retention_days=body.audio_retention_days,
        if_match=if_match,
    )
    response.headers["ETag"] = policy.etag
    return _privacy_out(policy, runtime.settings.privacy.audio_retention_days)
