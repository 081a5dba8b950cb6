"""Real lectures in a staging target: the bundled clip sent through the whole pipeline in
this process (the stage runner with a ``LocalDispatcher``, as `pegasus process` does), and
read back the way the app reads them, with every stored object checked against its row."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from pegasus.accounts.invitations import create_invitation
from pegasus.accounts.service import create_token, create_user
from pegasus.config import Settings
from pegasus.courses.service import create_course, resolve_preset
from pegasus.db.base import utcnow
from pegasus.db.models import Artifact, Lecture, LectureStatus, StageRun, StageStatus, User
from pegasus.db.session import unit_of_work
from pegasus.drills.clip import CLIP_CONTENT_TYPE, CLIP_NAME, clip_path, missing_words
from pegasus.lectures.service import Upload, create_lecture, export_file, read_transcript
from pegasus.queue.dispatch import LocalDispatcher
from pegasus.runtime import Runtime, build_runtime
from pegasus.storage.base import ObjectStore

DRILL_USER = "drill@pegasus.invalid"
#: The preset every drill lecture is processed with: every kit part and every export.
DRILL_PRESET = "quick-review"


@dataclass
class StagedRuntime:
    """A runtime over a staging target whose stages run in this process."""

    runtime: Runtime
    dispatcher: LocalDispatcher

    @property
    def store(self) -> ObjectStore:
        return self.runtime.store

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def close(self) -> None:
        self.runtime.close()


def staged_runtime(settings: Settings) -> StagedRuntime:
    dispatcher = LocalDispatcher()
    return StagedRuntime(build_runtime(settings, dispatcher=dispatcher), dispatcher)


@dataclass(frozen=True)
class Owner:
    user_id: str
    course_id: str


def create_owner(staged: StagedRuntime, course_name: str) -> Owner:
    """The drill's learner with an API token and an invitation they sent, and a course:
    made with the accounts and courses services, so those tables hold rows too."""
    with unit_of_work(staged.runtime.session_factory) as session:
        user = session.scalar(select(User).where(User.email == DRILL_USER))
        if user is None:
            user = create_user(session, DRILL_USER, secrets.token_urlsafe(24))
            create_token(session, DRILL_USER, name="drill")
            create_invitation(
                session, created_by=user, is_admin=False, now=utcnow(), lifetime=timedelta(days=7)
            )
        course = create_course(session, user.id, course_name)
        return Owner(user_id=user.id, course_id=course.id)


@dataclass(frozen=True)
class Processed:
    lecture_id: str
    status: str
    error_code: str | None
    stage_runs: int


def process_lectures(staged: StagedRuntime, owner: Owner, titles: list[str]) -> list[Processed]:
    """Upload the clip once per title (``create_lecture``, as the API does) and run every
    queued stage until none is left; return each lecture's final state."""
    runtime = staged.runtime
    ids: list[str] = []
    with clip_path() as clip:
        for title in titles:
            with unit_of_work(runtime.session_factory) as session, clip.open("rb") as stream:
                lecture = create_lecture(
                    session,
                    runtime.store,
                    staged.dispatcher,
                    owner_id=owner.user_id,
                    course_id=owner.course_id,
                    title=title,
                    preset_key=DRILL_PRESET,
                    upload=Upload(
                        filename=CLIP_NAME, content_type=CLIP_CONTENT_TYPE, stream=stream
                    ),
                    max_bytes=runtime.settings.media.max_upload_bytes,
                )
                ids.append(lecture.id)
    while staged.dispatcher.pending:
        runtime.runner.run(staged.dispatcher.pending.popleft())
    results: list[Processed] = []
    with unit_of_work(runtime.session_factory) as session:
        for lecture_id in ids:
            row = session.get(Lecture, lecture_id)
            assert row is not None
            failed = [r for r in row.stage_runs if r.status == StageStatus.FAILED]
            results.append(
                Processed(
                    lecture_id=lecture_id,
                    status=row.status,
                    error_code=failed[-1].error_code if failed else None,
                    stage_runs=len(row.stage_runs),
                )
            )
    return results


@dataclass(frozen=True)
class StoredArtifact:
    """One artifact row and what its stored object holds."""

    kind: str
    key: str
    row_size: int
    row_sha256: str
    object_size: int | None  # None: the object could not be read
    object_sha256: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.object_size == self.row_size
            and (not self.row_sha256 or self.object_sha256 == self.row_sha256)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "size_bytes": self.row_size,
            "sha256": self.row_sha256,
            "object_sha256": self.object_sha256,
            "ok": self.ok,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class LectureReadBack:
    """A lecture as read back: its row, its transcript, its exports, every artifact."""

    lecture_id: str
    status: str
    how: str
    artifacts: list[StoredArtifact] = field(default_factory=list)
    transcript_missing_words: list[str] = field(default_factory=list)
    exports_read: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.status == LectureStatus.SUCCEEDED
            and not self.problems
            and not self.transcript_missing_words
            and bool(self.artifacts)
            and all(a.ok for a in self.artifacts)
        )

    def checksums(self) -> dict[str, str]:
        """kind -> SHA-256 of the stored object (what a restore must reproduce)."""
        return {a.kind: a.object_sha256 or "" for a in self.artifacts}

    def summary(self) -> str:
        bad = [a.kind for a in self.artifacts if not a.ok]
        listed = f": {', '.join(bad)}" if bad else ""
        parts = [
            f"lecture {self.lecture_id} {self.status}",
            f"{len(self.artifacts)} artifacts, {len(bad)} bad{listed}",
            f"{self.exports_read} exports read",
        ]
        if self.how == "services":
            missing = self.transcript_missing_words
            parts.append(
                f"transcript missing {missing}" if missing else "transcript holds the clip's words"
            )
        parts += self.problems
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lecture_id": self.lecture_id,
            "status": self.status,
            "read_through": self.how,
            "ok": self.ok,
            "exports_read": self.exports_read,
            "transcript_missing_words": self.transcript_missing_words,
            "problems": self.problems,
            "artifacts": [a.to_dict() for a in self.artifacts],
        }


def _object_digest(store: ObjectStore, key: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with store.open_read(key) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _stored(store: ObjectStore, kind: str, key: str, size: int, sha256: str) -> StoredArtifact:
    try:
        object_size, object_sha = _object_digest(store, key)
    except Exception as exc:
        return StoredArtifact(kind, key, size, sha256, None, None, f"{type(exc).__name__}: {exc}")
    return StoredArtifact(kind, key, size, sha256, object_size, object_sha)


def read_lecture(staged: StagedRuntime, owner_id: str, lecture_id: str) -> LectureReadBack:
    """Read a lecture through the lecture services, as the API does: the transcript (parsed,
    holding the clip's words), every export of its preset, and every artifact's object
    against the row's size and SHA-256."""
    runtime = staged.runtime
    with unit_of_work(runtime.session_factory) as session:
        lecture = session.get(Lecture, lecture_id)
        if lecture is None:
            return LectureReadBack(lecture_id, "missing", "services", problems=["no row"])
        result = LectureReadBack(lecture_id, lecture.status, "services")
        try:
            transcript = read_transcript(session, runtime.store, owner_id, lecture_id)
            result.transcript_missing_words = missing_words(transcript.text)
        except Exception as exc:
            result.problems.append(f"transcript unreadable: {type(exc).__name__}: {exc}")
        preset = resolve_preset(session, lecture.preset_key, course_id=lecture.course_id)
        for fmt in preset.exports:
            try:
                found = export_file(session, owner_id, lecture_id, fmt)
                with runtime.store.open_read(found.key) as stream:
                    if not stream.read(1):
                        raise ValueError("empty")
                result.exports_read += 1
            except Exception as exc:
                result.problems.append(f"export {fmt} unreadable: {type(exc).__name__}: {exc}")
        rows = session.scalars(
            select(Artifact).where(Artifact.lecture_id == lecture_id).order_by(Artifact.kind)
        ).all()
        artifacts = [(a.kind, a.key, a.size_bytes, a.sha256) for a in rows]
    result.artifacts = [_stored(runtime.store, *row) for row in artifacts]
    return result


def read_lecture_rows(staged: StagedRuntime, lecture_id: str) -> LectureReadBack:
    """Read a lecture with plain SQL (no ORM model), for a schema older than the code: the
    lecture row, its artifact rows, and every artifact's object against its row."""
    with staged.engine.connect() as connection:
        status = connection.execute(
            text("SELECT status FROM lectures WHERE id = :id"), {"id": lecture_id}
        ).scalar()
        rows = connection.execute(
            text(
                "SELECT kind, key, size_bytes, sha256 FROM artifacts "
                "WHERE lecture_id = :id ORDER BY kind"
            ),
            {"id": lecture_id},
        ).all()
    if status is None:
        return LectureReadBack(lecture_id, "missing", "sql", problems=["no row"])
    result = LectureReadBack(lecture_id, str(status), "sql")
    result.artifacts = [
        _stored(staged.store, str(kind), str(key), int(size), str(sha or ""))
        for kind, key, size, sha in rows
    ]
    result.exports_read = sum(1 for a in result.artifacts if a.kind.startswith("export") and a.ok)
    return result


def object_digests(store: ObjectStore) -> dict[str, str]:
    """key -> SHA-256 of every object in ``store``."""
    return {item.key: _object_digest(store, item.key)[1] for item in store.list_prefix("")}


def newest_write(session: Session) -> datetime | None:
    """The newest write the pipeline made: the latest lecture update, finished stage run or
    artifact (what a backup taken now must hold; its age at the snapshot is the RPO)."""
    candidates = [
        session.scalar(select(Lecture.updated_at).order_by(Lecture.updated_at.desc()).limit(1)),
        session.scalar(
            select(StageRun.finished_at)
            .where(StageRun.finished_at.is_not(None))
            .order_by(StageRun.finished_at.desc())
            .limit(1)
        ),
        session.scalar(select(Artifact.created_at).order_by(Artifact.created_at.desc()).limit(1)),
    ]
    found = [moment for moment in candidates if moment is not None]
    return max(found) if found else None


def differences(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """What differs between two key -> checksum maps: missing, extra, changed keys."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    out = [f"missing {k}" for k in missing] + [f"extra {k}" for k in extra]
    return out + [f"changed {k}" for k in changed]
