"""Course and preset endpoints."""

from __future__ import annotations

from fastapi import APIRouter, status

from pegasus.courses import service
from pegasus.courses.schemas import CourseCreate, CourseOut, PresetCreate, PresetOut
from pegasus.dependencies import SessionDep, UserDep
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
def get_course(course_id: str, user: UserDep, session: SessionDep) -> CourseOut:
    return CourseOut.model_validate(service.get_course(session, user.id, course_id))


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
