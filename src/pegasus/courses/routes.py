"""Course and preset endpoints."""

from __future__ import annotations

from fastapi import APIRouter, status

from pegasus.courses import service
from pegasus.courses.schemas import CourseCreate, CourseOut, PresetOut
from pegasus.dependencies import SessionDep, UserDep

router = APIRouter(prefix="/api/v1", tags=["courses"])


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


@router.get("/presets", response_model=list[PresetOut])
def list_presets(user: UserDep, session: SessionDep) -> list[PresetOut]:
    return [
        PresetOut(
            key=p.key,
            name=p.name,
            description=p.description,
            outputs=list(p.outputs),
            exports=list(p.exports),
        )
        for p in service.list_presets(session)
    ]
