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

from tests.conftest import SPOKEN_WORDS, Recordings

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pegasus", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PEGASUS_LOG_LEVEL": "WARNING"},
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
    assert "quick-review" in result.stderr
