"""A stage sees only what it needs: no stage can reach the whole Settings (database URL,
storage keys, LLM key, webhook secret), neither through its context nor its constructor."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator

from pydantic import BaseModel, SecretStr

from pegasus import config
from pegasus.config import (
    DatabaseSettings,
    LlmSettings,
    OpsSettings,
    Settings,
    StorageSettings,
)
from pegasus.pipeline.base import StageContext
from pegasus.runtime import build_stages


def _classes_in(annotation: object) -> Iterator[type]:
    """Every class named in a type annotation, inside unions and generics too."""
    if isinstance(annotation, type):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _classes_in(arg)
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        yield origin


def test_stage_context_has_no_settings_field() -> None:
    hints = typing.get_type_hints(StageContext)
    assert set(hints) == {f.name for f in dataclasses.fields(StageContext)}
    for name, hint in hints.items():
        for cls in _classes_in(hint):
            assert not (issubclass(cls, BaseModel) and cls.__module__ == config.__name__), (
                f"StageContext.{name} hands every stage settings ({cls.__name__}); pass the "
                "group a stage needs to that stage's constructor instead"
            )


def _reachable(root: object, depth: int = 4) -> Iterator[object]:
    """Objects reachable from ``root`` through attributes, closures and bound methods."""
    seen: set[int] = set()
    pending = [(root, 0)]
    while pending:
        obj, level = pending.pop()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        yield obj
        children: list[object] = []
        if isinstance(obj, types.MethodType):
            children += [obj.__self__, obj.__func__]
        elif isinstance(obj, types.FunctionType):
            children += [cell.cell_contents for cell in obj.__closure__ or ()]
        elif isinstance(obj, dict):
            children += list(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            children += list(obj)
        elif isinstance(obj, BaseModel):
            children += [getattr(obj, name) for name in type(obj).model_fields]
        elif hasattr(obj, "__dict__") and not isinstance(obj, type | types.ModuleType):
            children += list(vars(obj).values())
        pending += [(child, level + 1) for child in children]


def test_stages_as_the_runtime_builds_them_hold_no_whole_settings() -> None:
    settings = Settings(
        llm=LlmSettings(base_url="http://127.0.0.1:9/v1", api_key=SecretStr("llm-key")),
    )
    stages = build_stages(settings)  # what ``Runtime.stages`` gives the runner
    assert set(stages) == {"ingest", "transcribe", "generate", "export"}
    others = (Settings, DatabaseSettings, StorageSettings, OpsSettings)
    for name, stage in stages.items():
        leaked = [type(found).__name__ for found in _reachable(stage) if isinstance(found, others)]
        assert not leaked, f"the {name} stage can reach {leaked}"
