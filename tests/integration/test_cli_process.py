"""`pegasus process FILE --out DIR`: the whole pipeline in-process, no server."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import srt
import webvtt
from pydantic import SecretStr

from pegasus.accounts.service import create_user
from pegasus.config import DatabaseSettings, QueueSettings, Settings, StorageSettings
from pegasus.courses.schemas import PresetCreate
from pegasus.courses.service import create_course, create_course_preset
from pegasus.db.session import unit_of_work
from pegasus.runtime import build_runtime
from pegasus.services import upgrade_database
from pegasus_testkit.lectures import SPOKEN_WORDS, Recordings

pytestmark = pytest.mark.slow


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pegasus", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PEGASUS_LOG_LEVEL": "WARNING", **(env or {})},
    )


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z ]+", " ", text.lower()).split())


def test_process_writes_every_export_with_the_spoken_words(
    recordings: Recordings, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _run("process", str(recordings.lecture_m4a), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # quick-review names every export format
    assert sorted(p.name for p in out.iterdir()) == [
        f"lecture.{ext}"
        for ext in sorted(("apkg", "csv", "json", "md", "pdf", "srt", "vtt", "zip"))
    ]
    texts = {
        "md": (out / "lecture.md").read_text(encoding="utf-8"),
        "json": " ".join(
            s["text"]
            for s in json.loads((out / "lecture.json").read_text())["transcript"]["segments"]
        ),
        "srt": " ".join(c.content for c in srt.parse((out / "lecture.srt").read_text())),
        "vtt": " ".join(
            c.text
            for c in webvtt.from_buffer(io.StringIO((out / "lecture.vtt").read_text())).captions
        ),
    }
    for fmt, text in texts.items():
        missing = set(SPOKEN_WORDS) - _words(text)
        assert len(missing) <= 1, (fmt, missing, text[:300])
    assert not (tmp_path / "var").exists(), "process must not touch the embedded database"


def test_process_reports_a_bad_file_with_its_error_code(
    recordings: Recordings, tmp_path: Path
) -> None:
    result = _run(
        "process", str(recordings.text_as_mp3), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "media.unsupported_format" in result.stderr
    assert not (tmp_path / "o").exists()


def test_process_refuses_an_unknown_preset(recordings: Recordings, tmp_path: Path) -> None:
    result = _run("process", str(recordings.lecture_wav), "--preset", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "preset.unknown" in result.stderr
    assert "quick-review" in result.stderr


def _course_with_own_preset(database_url: str, tmp_path: Path) -> tuple[str, str]:
    """A deployment database holding a course with a preset of its own: (course, preset)."""
    settings = Settings(
        database=DatabaseSettings(url=SecretStr(database_url)),
        storage=StorageSettings(root=tmp_path / "objects"),
        queue=QueueSettings(url=f"sqlite:///{tmp_path / 'queue.db'}"),
    )
    runtime = build_runtime(settings)
    try:
        upgrade_database(runtime)
        with unit_of_work(runtime.session_factory) as session:
            user = create_user(session, "own@example.org", "a long enough password")
            course = create_course(session, user.id, "Biology")
            own = PresetCreate(
                name="Captions and notes", outputs=["summary"], exports=["md", "srt"]
            )
            preset = create_course_preset(session, user.id, course.id, own)
            return course.id, preset.key
    finally:
        runtime.close()


def test_process_uses_a_courses_own_preset(recordings: Recordings, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment"
    database_url = f"sqlite:///{deployment / 'pegasus.db'}"
    course_id, key = _course_with_own_preset(database_url, deployment)
    before = (deployment / "pegasus.db").read_bytes()
    env = {"PEGASUS_DATABASE_URL": database_url}
    out = tmp_path / "out"
    result = _run(
        "process",
        str(recordings.lecture_wav),
        "--preset",
        key,
        "--course",
        course_id,
        "--out",
        str(out),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    # exactly the course preset's exports, with its summary in the Markdown
    assert sorted(p.name for p in out.iterdir()) == ["lecture.md", "lecture.srt"]
    assert "## Summary" in (out / "lecture.md").read_text(encoding="utf-8")
    assert (deployment / "pegasus.db").read_bytes() == before, "the deployment is only read"
    # without its course the preset is unknown, before any work
    refused = _run("process", str(recordings.lecture_wav), "--preset", key, cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "preset.unknown" in refused.stderr
