"""probe and transcode_to_wav16k on real encoded recordings of every accepted format."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from pegasus.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLongError,
    NoAudioError,
    UnsupportedMediaError,
)
from pegasus.media.probe import MediaInfo, probe, sniff_container
from pegasus.media.transcode import transcode_to_wav16k
from pegasus.media.windows import wav_duration
from pegasus_testkit.audio import (
    FORMATS,
    make_video_without_audio,
    read_wav_16k_mono,
    synthesize_speech,
    truncate_file,
)

TEXT = (
    "Photosynthesis converts light energy into chemical energy. "
    "Plants store this energy as sugar in their leaves."
)
LIMIT = 3600.0
# (container, audio codec, sample rate, channels, has video) that each fixture format yields.
EXPECTED: dict[str, tuple[str, str, int, int, bool]] = {
    "wav": ("wav", "pcm_s16le", 22_050, 1, False),
    "m4a": ("mov,mp4,m4a,3gp,3g2,mj2", "aac", 22_050, 1, False),
    "mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "aac", 22_050, 1, True),
    "mp3": ("mp3", "mp3float", 22_050, 1, False),
    "webm": ("matroska,webm", "opus", 48_000, 1, False),
    "ogg": ("ogg", "vorbis", 22_050, 2, False),
    "flac": ("flac", "flac", 22_050, 1, False),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same sentence spoken once and encoded in every format."""
    root = tmp_path_factory.mktemp("clips")
    return {fmt: synthesize_speech(TEXT, root / f"lecture.{fmt}", fmt=fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def spoken_seconds(clips: dict[str, Path]) -> float:
    """Length of the original espeak-ng speech."""
    with wave.open(str(clips["wav"]), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def test_the_fixtures_cover_every_format_a_learner_may_upload() -> None:
    assert set(EXPECTED) == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_describes_each_format(
    fmt: str, clips: dict[str, Path], spoken_seconds: float
) -> None:
    info = probe(clips[fmt], max_duration_seconds=LIMIT)

    container, codec, rate, channels, has_video = EXPECTED[fmt]
    assert info == MediaInfo(
        container=container,
        audio_codec=codec,
        duration_seconds=info.duration_seconds,
        sample_rate=rate,
        channels=channels,
        has_video=has_video,
    )
    assert info.duration_seconds == pytest.approx(spoken_seconds, abs=0.15)


@pytest.mark.parametrize("fmt", FORMATS)
def test_transcode_writes_16k_mono_wav_of_the_same_speech(
    fmt: str, clips: dict[str, Path], spoken_seconds: float, tmp_path: Path
) -> None:
    dst = tmp_path / "out" / "audio.wav"
    progress: list[float] = []

    seconds = transcode_to_wav16k(
        clips[fmt], dst, max_duration_seconds=LIMIT, on_progress=progress.append
    )

    assert seconds == pytest.approx(spoken_seconds, abs=0.15)
    assert wav_duration(dst) == pytest.approx(seconds)
    with wave.open(str(dst), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            1,
            2,
            16_000,
        )
    # The same speech: its loudness envelope matches the original's, 100 ms at a time.
    assert _envelope_correlation(read_wav_16k_mono(clips["wav"]), read_wav_16k_mono(dst)) > 0.9
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert len(progress) > 2
    assert list(dst.parent.iterdir()) == [dst]  # no temporary file left behind


def _envelope_correlation(
    a: np.ndarray[tuple[int], np.dtype[np.int16]], b: np.ndarray[tuple[int], np.dtype[np.int16]]
) -> float:
    block = 1_600
    n = min(len(a), len(b)) // block
    env_a = np.abs(a[: n * block].astype(np.float64)).reshape(n, block).mean(axis=1)
    env_b = np.abs(b[: n * block].astype(np.float64)).reshape(n, block).mean(axis=1)
    return float(np.corrcoef(env_a, env_b)[0, 1])


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "lecture.m4a"
    empty.touch()

    with pytest.raises(EmptyMediaError, match="empty"):
        probe(empty, max_duration_seconds=LIMIT)
    with pytest.raises(EmptyMediaError):
        transcode_to_wav16k(empty, tmp_path / "out.wav", max_duration_seconds=LIMIT)
    assert not (tmp_path / "out.wav").exists()


def test_text_file_named_mp3_is_unsupported(tmp_path: Path) -> None:
    notes = tmp_path / "lecture.mp3"
    notes.write_text("These are my lecture notes, not a recording.\n" * 20)

    with pytest.raises(UnsupportedMediaError, match="m4a, mp3, wav") as caught:
        probe(notes, max_duration_seconds=LIMIT)
    assert caught.value.code == "media.unsupported_format"


@pytest.mark.parametrize("fmt", ["m4a", "mp4"])
def test_truncated_mp4_family_is_corrupt(fmt: str, clips: dict[str, Path], tmp_path: Path) -> None:
    cut = truncate_file(clips[fmt], tmp_path / f"cut.{fmt}", keep_fraction=0.6)

    with pytest.raises(CorruptMediaError, match="cut off") as caught:
        probe(cut, max_duration_seconds=LIMIT)
    assert caught.value.code == "media.corrupt"
    with pytest.raises(CorruptMediaError):
        transcode_to_wav16k(cut, tmp_path / "out.wav", max_duration_seconds=LIMIT)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("fmt", ["mp3", "webm"])
def test_truncated_upload_whose_header_claims_more_is_corrupt(
    fmt: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    # These containers state the full duration up front, so only decoding finds the cut.
    cut = truncate_file(clips[fmt], tmp_path / f"cut.{fmt}", keep_fraction=0.5)
    assert probe(cut, max_duration_seconds=LIMIT).duration_seconds > 5.0

    with pytest.raises(CorruptMediaError, match="cut off"):
        transcode_to_wav16k(cut, tmp_path / "out.wav", max_duration_seconds=LIMIT)
    assert list(tmp_path.glob("*.wav")) == []


def test_garbage_after_a_known_signature_is_corrupt(tmp_path: Path) -> None:
    fake = tmp_path / "lecture.m4a"
    fake.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(range(256)) * 8)

    with pytest.raises(CorruptMediaError):
        probe(fake, max_duration_seconds=LIMIT)


def test_video_without_sound_has_no_audio(tmp_path: Path) -> None:
    video = make_video_without_audio(tmp_path / "lecture.mp4")

    with pytest.raises(NoAudioError, match="no sound track") as caught:
        probe(video, max_duration_seconds=LIMIT)
    assert caught.value.code == "media.no_audio"


def test_recording_longer_than_the_limit_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaTooLongError, match="at most 0:03") as caught:
        probe(clips["m4a"], max_duration_seconds=3.0)
    assert caught.value.context["max_duration_seconds"] == 3.0
    with pytest.raises(MediaTooLongError):
        transcode_to_wav16k(clips["m4a"], tmp_path / "out.wav", max_duration_seconds=3.0)
    assert not (tmp_path / "out.wav").exists()


def test_live_webm_without_duration_is_limited_while_decoding(
    tmp_path: Path, spoken_seconds: float
) -> None:
    live = synthesize_speech(TEXT, tmp_path / "live.webm", fmt="webm", streamed=True)
    assert probe(live, max_duration_seconds=3.0).duration_seconds == 0.0  # unknown: not refused

    with pytest.raises(MediaTooLongError):
        transcode_to_wav16k(live, tmp_path / "out.wav", max_duration_seconds=3.0)
    assert list(tmp_path.glob("*.wav")) == []

    progress: list[float] = []
    seconds = transcode_to_wav16k(
        live, tmp_path / "out.wav", max_duration_seconds=LIMIT, on_progress=progress.append
    )
    assert seconds == pytest.approx(spoken_seconds, abs=0.15)
    assert progress == [1.0]


def test_transcode_replaces_an_existing_destination_whole(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    dst = tmp_path / "audio.wav"
    dst.write_bytes(b"stale")

    seconds = transcode_to_wav16k(clips["flac"], dst, max_duration_seconds=LIMIT)

    assert wav_duration(dst) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("head", "family"),
    [
        (b"\x00\x00\x00\x20ftypisom", "mp4"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC\x00\x00", "flac"),
        (b"\x1a\x45\xdf\xa3\x9f", "matroska"),
        (b"ID3\x04\x00", "mp3"),
        (b"\xff\xfb\x90\x64", "mpeg-audio"),
        (b"Lecture notes", None),
        (b"", None),
    ],
)
def test_sniff_container(head: bytes, family: str | None) -> None:
    assert sniff_container(head) == family
