"""Operations the CLI runs that span several slices (database setup, local processing)."""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pegasus.accounts.service import create_user
from pegasus.config import Settings
from pegasus.courses.service import (
    add_preset,
    create_course,
    resolve_preset,
    sync_builtin_presets,
)
from pegasus.db.migrate import upgrade
from pegasus.db.models import Lecture, LectureStatus, StageRun, StageStatus
from pegasus.db.session import build_engine, build_session_factory, unit_of_work
from pegasus.exports.bundle import safe_stem
from pegasus.exports.formats import get_format
from pegasus.lectures import repository as lecture_repository
from pegasus.lectures.service import Upload, create_lecture
from pegasus.pipeline.export import export_kind
from pegasus.presets import Preset, get_preset
from pegasus.queue.dispatch import LocalDispatcher
from pegasus.runtime import Runtime, build_runtime


def upgrade_database(runtime: Runtime) -> None:
    """Migrate to the newest schema and sync the built-in presets."""
    upgrade(runtime.engine)
    with unit_of_work(runtime.session_factory) as session:
        sync_builtin_presets(session)


@dataclass(frozen=True)
class ProcessResult:
    """The outcome of ``process_file``: the lecture's final state and the files written."""

    status: str
    error_code: str | None
    error_message: str | None
    files: list[Path]


ProgressHook = Callable[[str, float, str], None]


def process_file(
    settings: Settings,
    source: Path,
    out_dir: Path,
    *,
    preset_key: str,
    course_id: str | None = None,
    on_progress: ProgressHook | None = None,
    poll_seconds: float = 0.25,
) -> ProcessResult:
    """Run the whole pipeline on ``source`` in this process and write exports to ``out_dir``.

    The preset is a built-in, or with ``course_id`` one of that course's own presets, read
    from the database ``settings`` name (``UnknownPresetError`` before any work otherwise).
    The pipeline runs on a scratch database, store and queue in a temporary directory
    (``Settings.scratch``): the deployment itself is never changed.
    ``on_progress(stage, fraction, message)`` is called from this thread while stages run.
    """
    preset = _chosen_preset(settings, preset_key, course_id)
    with tempfile.TemporaryDirectory(prefix="pegasus-process-") as scratch:
        return _process(
            settings.scratch(Path(scratch)), source, out_dir, preset, on_progress, poll_seconds
        )


def _chosen_preset(settings: Settings, key: str, course_id: str | None) -> Preset:
    if course_id is None:
        return get_preset(key)
    engine = build_engine(settings.database)
    try:
        with unit_of_work(build_session_factory(engine)) as session:
            return resolve_preset(session, key, course_id=course_id)
    finally:
        engine.dispose()


def _process(
    settings: Settings,
    source: Path,
    out_dir: Path,
    preset: Preset,
    on_progress: ProgressHook | None,
    poll_seconds: float,
) -> ProcessResult:
    dispatcher = LocalDispatcher()
    runtime = build_runtime(settings, dispatcher=dispatcher)
    try:
        upgrade_database(runtime)
        with unit_of_work(runtime.session_factory) as session:
            user = create_user(session, "local@pegasus.invalid", secrets.token_urlsafe(24))
            course = create_course(session, user.id, "Local")
            if preset.course_id is not None:  # a copy of the course's own preset
                add_preset(session, dataclasses.replace(preset, course_id=course.id))
            with source.open("rb") as stream:
                lecture = create_lecture(
                    session,
                    runtime.store,
                    dispatcher,
                    owner_id=user.id,
                    course_id=course.id,
                    title=source.stem,
                    preset_key=preset.key,
                    upload=Upload(filename=source.name, content_type="", stream=stream),
                    max_bytes=settings.media.max_upload_bytes,
                )
            lecture_id = lecture.id
        while dispatcher.pending:
            stage_run_id = dispatcher.pending.popleft()
            worker = threading.Thread(target=runtime.runner.run, args=(stage_run_id,))
            worker.start()
            while worker.is_alive():
                worker.join(poll_seconds)
                if on_progress:
                    _report(runtime, stage_run_id, on_progress)
        return _collect(runtime, lecture_id, out_dir)
    finally:
        runtime.close()


def _report(runtime: Runtime, stage_run_id: str, on_progress: ProgressHook) -> None:
    with unit_of_work(runtime.session_factory) as session:
        run = session.get(StageRun, stage_run_id)
        if run is not None:
            on_progress(run.stage, run.progress, run.message)


def _collect(runtime: Runtime, lecture_id: str, out_dir: Path) -> ProcessResult:
    with unit_of_work(runtime.session_factory) as session:
        lecture = session.get(Lecture, lecture_id)
        assert lecture is not None
        failed = [r for r in lecture.stage_runs if r.status == StageStatus.FAILED]
        last_failure = failed[-1] if failed else None
        files: list[Path] = []
        if lecture.status == LectureStatus.SUCCEEDED:
            out_dir.mkdir(parents=True, exist_ok=True)
            stem = safe_stem(lecture.title)
            preset = resolve_preset(session, lecture.preset_key, course_id=lecture.course_id)
            for fmt_key in preset.exports:
                row = lecture_repository.artifact(session, lecture.id, export_kind(fmt_key))
                if row is None:
                    continue
                target = out_dir / f"{stem}.{get_format(fmt_key).extension}"
                with runtime.store.open_read(row.key) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                files.append(target)
        return ProcessResult(
            status=lecture.status,
            error_code=last_failure.error_code if last_failure else None,
            error_message=last_failure.error_message if last_failure else None,
            files=files,
        )
