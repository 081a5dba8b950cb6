"""The study-kit harness's own options: the scripts alone, a transcript cache, the misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval import run
from pegasus.config import TranscriptionSettings
from pegasus.transcription.schemas import Segment, Transcript

FIXTURE = run.Fixture(
    title="Osmosis",
    sections=[
        run.Section(title="One", sentences=["Osmosis is the movement of water across a membrane."]),
        run.Section(title="Two", sentences=["Water moves by osmosis into the cell, " * 4]),
    ],
    glossary=[run.GlossaryEntry(term="osmosis", definition="movement of water")],
)


def test_section_starts_are_estimated_without_speech() -> None:
    starts, duration = run._estimated_starts(FIXTURE)

    words = [len(" ".join(s.sentences).split()) for s in FIXTURE.sections]
    assert starts[0] == 0
    assert starts[1] == pytest.approx(60 * words[0] / run.WORDS_PER_MINUTE + 0.5, abs=1e-3)
    assert duration == pytest.approx(starts[1] + 60 * words[1] / run.WORDS_PER_MINUTE, abs=1e-3)


def test_a_cached_transcript_is_reused_only_for_the_same_lecture_and_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def transcribe(fixture: run.Fixture, transcriber: object, workdir: Path) -> object:
        calls.append(fixture.sections[0].sentences[0])
        segment = Segment(start=0.0, end=1.0, text=fixture.sections[0].sentences[0])
        return Transcript(language="en", duration_seconds=2.0, segments=[segment]), [0.0, 1.0]

    monkeypatch.setattr(run, "_transcribe", transcribe)
    cache = tmp_path / "cache"
    settings = TranscriptionSettings()

    first = run._cached_transcribe(FIXTURE, None, settings, tmp_path / "a", cache)  # type: ignore[arg-type]
    again = run._cached_transcribe(FIXTURE, None, settings, tmp_path / "b", cache)  # type: ignore[arg-type]
    other = settings.model_copy(update={"beam_size": 1})
    run._cached_transcribe(FIXTURE, None, other, tmp_path / "c", cache)  # type: ignore[arg-type]
    changed = FIXTURE.model_copy(
        update={"sections": [run.Section(title="One", sentences=["Diffusion spreads out."])]}
    )
    run._cached_transcribe(changed, None, settings, tmp_path / "d", cache)  # type: ignore[arg-type]

    assert again == first
    assert len(calls) == 3  # the second call came from the cache; new settings, new lecture
    assert len(list(cache.glob("*.json"))) == 3


def test_scripts_only_runs_no_recogniser_and_debug_lists_the_misses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_recogniser(*args: object, **kwargs: object) -> None:
        raise AssertionError("--scripts-only must not load a speech model")

    monkeypatch.setattr(run, "Transcriber", no_recogniser)
    (tmp_path / "osmosis.yaml").write_text(FIXTURE.model_dump_json(), encoding="utf-8")

    code = run.main(["--fixtures", str(tmp_path), "--scripts-only", "--debug"])

    out, err = capsys.readouterr()
    assert code == 0
    assert "Spoken" not in out
    assert "The scripts as transcripts" in out
    assert "scripts recall" in out
    assert "spoken recall" not in out
    assert "[osmosis, script] missed: -" in err
    assert "[osmosis, script] wrong:" in err
