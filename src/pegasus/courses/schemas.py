"""HTTP shapes of courses and presets."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CourseCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Biology 101"])


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime


class PresetOut(BaseModel):
    key: str
    name: str
    description: str
    outputs: list[str]
    exports: list[str]
