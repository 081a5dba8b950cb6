"""HTTP shapes of lectures, their stages and the learner's review edits."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pegasus.db.models import Lecture, LectureStatus, StageName, StageStatus
from pegasus.pipeline.queries import latest_runs


class StageError(BaseModel):
    code: str
    message: str


class StageOut(BaseModel):
    stage: StageName
    status: StageStatus
    attempt: int
    progress: float
    message: str
    error: StageError | None
    started_at: datetime | None
    finished_at: datetime | None


class LectureOut(BaseModel):
    id: str
    course_id: str
    title: str
    preset: str
    status: LectureStatus
    duration_seconds: float | None
    size_bytes: int
    created_at: datetime
    finished_at: datetime | None
    stages: list[StageOut]

    @classmethod
    def from_lecture(cls, lecture: Lecture) -> LectureOut:
        """The lecture with the newest attempt of each stage, in pipeline order."""
        newest = latest_runs(lecture)
        stages = []
        for name in StageName:
            run = newest.get(name.value)
            if run is None:
                continue
            error = (
                StageError(code=run.error_code, message=run.error_message or "")
                if run.error_code
                else None
            )
            stages.append(
                StageOut(
                    stage=StageName(run.stage),
                    status=StageStatus(run.status),
                    attempt=run.attempt,
                    progress=run.progress,
                    message=run.message,
                    error=error,
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                )
            )
        return cls(
            id=lecture.id,
            course_id=lecture.course_id,
            title=lecture.title,
            preset=lecture.preset_key,
            status=LectureStatus(lecture.status),
            duration_seconds=lecture.duration_seconds,
            size_bytes=lecture.size_bytes,
            created_at=lecture.created_at,
            finished_at=lecture.finished_at,
            stages=stages,
        )


# --- review edits (PATCH bodies); a field left out is left as it is ---------------------------


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
