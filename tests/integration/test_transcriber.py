"""Transcriber on real speech with the bundled tiny.en model, and its repeat collapsing."""

from __future__ import annotations

import re
import shutil
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pegasus.config import TranscriptionSettings
from pegasus.errors import ModelUnavailableError, TranscriptionError
from pegasus.media.transcode import transcode_to_wav16k
from pegasus.transcription.models import resolve_model_dir
from pegasus.transcription.schemas import Recognizer, Segment, Transcript, Word
from pegasus.transcription.transcriber import (
    Transcriber,
    collapse_repeated_words,
    collapse_repeats,
    merge_repeated_segments,
)
from pegasus_testkit.audio import synthesize_speech

TEXT = (
    "Photosynthesis converts light energy into chemical energy. "
    "Plants store this energy as sugar in their leaves. "
    "The oxygen we breathe is released by the same process."
)


# --- collapse_repeats: pure ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thank you. Thank you. Thank you.", "Thank you."),
        ("Thank you, thank you, thank you!", "Thank you!"),
        ("the the the cell wall", "the cell wall"),
        ("I think I think I think that is right", "I think that is right"),
        ("So, so, so SO the membrane", "So the membrane"),
        ("we go round and round and round and round", "we go round and round"),
        ("a b c a b c a b c a b c d", "a b c d"),
        ("  spaced    out   words ", "spaced out words"),
        ("", ""),
    ],
)
def test_collapse_repeats_reduces_runs_of_three_or_more(text: str, expected: str) -> None:
    assert collapse_repeats(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Photosynthesis converts light energy into chemical energy.",
        "very very important",  # twice is speech, not a loop
        "one two one two",
        "It is what it is.",
        "- - -",  # punctuation alone is not a phrase
    ],
)
def test_collapse_repeats_keeps_ordinary_speech(text: str) -> None:
    assert collapse_repeats(text) == text


def test_collapse_repeats_catches_runs_revealed_by_collapsing() -> None:
    looped = "no no no way " * 3 + "out"

    assert collapse_repeats(looped) == "no way out"


def test_collapsed_words_span_the_whole_run() -> None:
    words = [
        Word(start=0.0, end=0.5, word=" Thank"),
        Word(start=0.5, end=1.0, word=" you."),
        Word(start=1.0, end=1.5, word=" Thank"),
        Word(start=1.5, end=2.0, word=" you."),
        Word(start=2.0, end=2.5, word=" Thank"),
        Word(start=2.5, end=3.0, word=" you!"),
        Word(start=3.0, end=3.4, word=" Bye."),
    ]

    assert collapse_repeated_words(words) == [
        Word(start=0.0, end=0.5, word=" Thank"),
        Word(start=0.5, end=3.0, word=" you!"),
        Word(start=3.0, end=3.4, word=" Bye."),
    ]


def test_consecutive_identical_segments_are_merged() -> None:
    segments = [
        Segment(start=0.0, end=2.0, text="Light energy."),
        Segment(start=2.0, end=4.0, text="light energy"),
        Segment(start=4.0, end=6.0, text="Chemical energy."),
        Segment(start=6.0, end=8.0, text="Light energy."),
    ]

    assert merge_repeated_segments(segments) == [
        Segment(start=0.0, end=4.0, text="Light energy."),
        Segment(start=4.0, end=6.0, text="Chemical energy."),
        Segment(start=6.0, end=8.0, text="Light energy."),
    ]


# --- model loading ---------------------------------------------------------------------------


def test_default_model_is_the_bundled_tiny_en(tmp_path: Path) -> None:
    path = resolve_model_dir(TranscriptionSettings().model, tmp_path)

    assert (path / "model.bin").is_file()
    assert (path / "tokenizer.json").is_file()


def test_missing_model_directory_is_reported(tmp_path: Path) -> None:
    settings = TranscriptionSettings(model=str(tmp_path / "nowhere"))

    with pytest.raises(ModelUnavailableError, match="CTranslate2 Whisper") as caught:
        Transcriber(settings)
    assert "tiny.en" in caught.value.message
    assert caught.value.code == "transcription.model_unavailable"


def test_unloadable_model_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "model"
    shutil.copytree(
        resolve_model_dir("tiny.en", tmp_path), broken, ignore=shutil.ignore_patterns("model.bin")
    )
    (broken / "model.bin").write_bytes(b"not a model")

    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        Transcriber(TranscriptionSettings(model=str(broken)))


# --- window handling, with the model's decoding replaced by a script ------------------------


@dataclass
class FakeWord:
    start: float
    end: float
    word: str


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    words: list[FakeWord]


@dataclass
class FakeInfo:
    language: str


class ScriptedPipeline:
    """Stands in for BatchedInferencePipeline: one window-relative segment per call."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, model: object) -> None:
        self.model = model

    def transcribe(self, audio: Any, **options: Any) -> tuple[list[FakeSegment], FakeInfo]:
        self.calls.append({"samples": len(audio), **options})
        seconds = len(audio) / 16_000
        words = [FakeWord(0.5, 1.0, " Light"), FakeWord(1.0, seconds + 0.3, " energy.")]
        return [FakeSegment(0.5, seconds + 0.3, "Light energy.", words)], FakeInfo("en")


def silent_wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x00\x00" * int(16_000 * seconds))
    return path


@pytest.fixture
def scripted() -> type[ScriptedPipeline]:
    ScriptedPipeline.calls = []
    return ScriptedPipeline


def test_windows_get_absolute_clamped_times_and_the_configured_options(
    scripted: type[ScriptedPipeline], tmp_path: Path
) -> None:
    settings = TranscriptionSettings(mode="fast", window_seconds=4.0, batch_size=3, beam_size=2)
    transcriber = Transcriber(settings)
    transcriber._pipeline_class = scripted
    progress: list[tuple[float, str]] = []

    transcript = transcriber.transcribe(
        silent_wav(tmp_path / "a.wav", 10.0),
        hotwords="chlorophyll Calvin",
        on_progress=lambda fraction, message: progress.append((fraction, message)),
    )

    assert [c["samples"] for c in scripted.calls] == [64_000, 64_000, 32_000]
    for call in scripted.calls:
        assert call["hotwords"] == "chlorophyll Calvin"
        assert call["language"] == "en"
        assert (call["batch_size"], call["beam_size"]) == (3, 2)
        assert call["vad_filter"] is True
        assert call["word_timestamps"] is True
        assert call["condition_on_previous_text"] is False
        assert call["without_timestamps"] is False
    # Times are shifted by each window's offset and kept inside the window; the three windows
    # said the same thing, so their segments merge into the first, stretched to the last.
    assert transcript.segments == [
        Segment(
            start=0.5,
            end=10.0,
            text="Light energy.",
            words=[
                Word(start=0.5, end=1.0, word=" Light"),
                Word(start=1.0, end=4.0, word=" energy."),
            ],
        )
    ]
    assert [fraction for fraction, _ in progress] == sorted(f for f, _ in progress)
    assert progress[-1] == (1.0, "Transcribed 0:10 of 0:10")


def test_times_beyond_the_first_window_are_offset(
    scripted: type[ScriptedPipeline], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = iter(["Light energy.", "Chemical energy.", "Sugar."])
    original = scripted.transcribe

    def varied(self: ScriptedPipeline, audio: Any, **options: Any) -> Any:
        segments, info = original(self, audio, **options)
        segments[0].text = next(texts)
        return segments, info

    monkeypatch.setattr(scripted, "transcribe", varied)
    transcriber = Transcriber(TranscriptionSettings(mode="fast", window_seconds=4.0))
    transcriber._pipeline_class = scripted

    transcript = transcriber.transcribe(silent_wav(tmp_path / "a.wav", 10.0))

    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.5, 4.0, "Light energy."),
        (4.5, 8.0, "Chemical energy."),
        (8.5, 10.0, "Sugar."),
    ]
    assert [(w.start, w.end) for w in transcript.segments[2].words] == [(8.5, 9.0), (9.0, 10.0)]


def test_decoding_failure_is_a_transcription_error(
    scripted: type[ScriptedPipeline], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: ScriptedPipeline, audio: Any, **options: Any) -> Any:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(scripted, "transcribe", broken)
    transcriber = Transcriber(TranscriptionSettings(mode="fast", window_seconds=4.0))
    transcriber._pipeline_class = scripted

    with pytest.raises(TranscriptionError, match="failed at 0:00 of 0:10") as caught:
        transcriber.transcribe(silent_wav(tmp_path / "a.wav", 10.0))
    assert caught.value.context["detail"] == "out of memory"


def test_accurate_decodes_sequentially_and_a_call_may_choose_its_mode(
    scripted: type[ScriptedPipeline], tmp_path: Path
) -> None:
    transcriber = Transcriber(TranscriptionSettings(window_seconds=4.0, beam_size=2))
    transcriber._model = scripted(None)  # the model's own (sequential) transcribe
    transcriber._pipeline_class = scripted
    wav = silent_wav(tmp_path / "a.wav", 10.0)

    accurate = transcriber.transcribe(wav, hotwords="Calvin")
    sequential, scripted.calls = scripted.calls, []
    fast = transcriber.transcribe(wav, mode="fast")

    assert len(sequential) == 3
    for call in sequential:
        assert "batch_size" not in call
        assert "without_timestamps" not in call
        assert (call["beam_size"], call["hotwords"], call["language"]) == (2, "Calvin", "en")
        assert call["vad_filter"] is True
        assert call["condition_on_previous_text"] is False
        assert call["word_timestamps"] is True
    assert [call["batch_size"] for call in scripted.calls] == [4, 4, 4]
    assert accurate.recognizer == Recognizer(
        model="tiny.en", mode="accurate", beam_size=2, compute_type="int8"
    )
    assert fast.recognizer == Recognizer(
        model="tiny.en", mode="fast", beam_size=2, compute_type="int8"
    )
    assert accurate.segments == fast.segments


# --- transcription (slow: runs the model) ----------------------------------------------------


@pytest.fixture(scope="module")
def lecture_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 11 s of speech, uploaded as m4a and transcoded like the pipeline does."""
    root = tmp_path_factory.mktemp("speech")
    upload = synthesize_speech(TEXT, root / "lecture.m4a", fmt="m4a")
    wav = root / "lecture.wav"
    transcode_to_wav16k(upload, wav, max_duration_seconds=600)
    return wav


def words_of(transcript: Transcript) -> list[str]:
    return re.findall(r"[a-z]+", transcript.text.lower())


def assert_word_times_are_sane(transcript: Transcript) -> None:
    words = [w for s in transcript.segments for w in s.words]
    assert words, "no word timestamps"
    for word in words:
        assert 0 <= word.start <= word.end <= transcript.duration_seconds
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    for segment in transcript.segments:
        assert 0 <= segment.start <= segment.end <= transcript.duration_seconds
        assert segment.words[0].start >= segment.start
        assert segment.words[-1].end <= segment.end


@pytest.mark.slow
def test_transcribes_the_spoken_words(lecture_wav: Path) -> None:
    progress: list[tuple[float, str]] = []

    transcript = Transcriber(TranscriptionSettings()).transcribe(
        lecture_wav, on_progress=lambda fraction, message: progress.append((fraction, message))
    )

    assert transcript.language == "en"
    assert transcript.duration_seconds == pytest.approx(10.7, abs=1.0)
    spoken = words_of(transcript)
    # tiny.en hears espeak's "Plants store" as "Plant stored"; the rest comes through.
    for word in ("photosynthesis", "chemical", "energy", "sugar", "oxygen", "released"):
        assert word in spoken
    assert_word_times_are_sane(transcript)
    assert progress[-1] == (1.0, "Transcribed 0:11 of 0:11")
    fractions = [fraction for fraction, _ in progress]
    assert fractions == sorted(fractions)


@pytest.mark.slow
def test_windows_are_transcribed_with_absolute_times(lecture_wav: Path) -> None:
    settings = TranscriptionSettings(window_seconds=4.0)
    progress: list[str] = []

    transcript = Transcriber(settings).transcribe(
        lecture_wav, on_progress=lambda _fraction, message: progress.append(message)
    )

    assert_word_times_are_sane(transcript)
    late = [w for s in transcript.segments for w in s.words if w.start >= 4.0]
    assert len(late) >= 8, "speech after the first window is missing or kept window-relative"
    assert max(w.end for w in late) > 8.0
    # The third window starts in the pause before 8 s (windows end at their quietest 20 ms).
    assert any(s.start >= 7.0 for s in transcript.segments)
    # A word cut by a window boundary may be misheard, but the rest of the speech is there.
    spoken = words_of(transcript)
    for word in ("photosynthesis", "chemical", "store", "sugar", "released", "process"):
        assert word in spoken
    # Reported at each window's end (the second ends in a pause before 8 s) and at the last.
    assert "Transcribed 0:04 of 0:11" in progress
    assert any(
        message in progress for message in ("Transcribed 0:07 of 0:11", "Transcribed 0:08 of 0:11")
    )
    assert progress[-1] == "Transcribed 0:11 of 0:11"


@pytest.mark.slow
def test_silence_yields_no_segments(tmp_path: Path) -> None:
    wav = silent_wav(tmp_path / "silence.wav", 3.0)

    transcript = Transcriber(TranscriptionSettings()).transcribe(wav)

    assert transcript.segments == []
    assert transcript.duration_seconds == 3.0


@pytest.mark.slow
def test_every_sentence_of_a_short_clip_is_transcribed(tmp_path: Path) -> None:
    """Regression: batched decoding without timestamp tokens dropped all but the first
    sentence of a VAD chunk."""
    upload = synthesize_speech(
        "Mitochondria are the powerhouse of the cell. They produce energy as ATP.",
        tmp_path / "mito.m4a",
        fmt="m4a",
    )
    wav = transcode_to_wav16k(upload, tmp_path / "mito.wav", max_duration_seconds=60)
    assert wav > 4.0
    transcript = Transcriber(TranscriptionSettings()).transcribe(tmp_path / "mito.wav")
    words = [w for s in transcript.segments for w in s.words]
    assert words[-1].end > transcript.duration_seconds - 1.5, transcript.text
    assert "atp" in words_of(transcript)
