"""Exports: Markdown, JSON, SRT and WebVTT renderings of a transcript and study kit."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pypdf
import pytest
import srt
import webvtt

from pegasus.errors import NotFoundError
from pegasus.exports import EXPORT_FORMATS, get_format, render_export
from pegasus.exports.json_export import render_json
from pegasus.exports.markdown import clock, escape, render_markdown
from pegasus.exports.subtitles import MAX_CUE_CHARS, MAX_CUE_SECONDS, render_srt, render_vtt
from pegasus.studykit.schemas import Flashcard, KeyTerm, Span, StudyKit, SummarySentence
from pegasus.transcription.schemas import Segment, Transcript, Word
from tests.readers import read_markdown, timestamps

PHRASES = [
    "Photosynthesis is how plants turn light into sugar.",
    "Chlorophyll is the green pigment that absorbs the light.",
    "The Calvin cycle is the second stage of photosynthesis.",
]


def timed_words(text: str, start: float, seconds_per_word: float) -> list[Word]:
    return [
        Word(
            start=round(start + i * seconds_per_word, 3),
            end=round(start + (i + 0.8) * seconds_per_word, 3),
            word=token,
        )
        for i, token in enumerate(text.split())
    ]


def transcript_of(*segments: Segment) -> Transcript:
    end = max((s.end for s in segments), default=0.0)
    return Transcript(language="en", duration_seconds=end, segments=list(segments))


def short_lecture() -> Transcript:
    """Three short segments 0.5 s apart, one word every 0.4 s."""
    segments = []
    t = 0.0
    for phrase in PHRASES:
        words = timed_words(phrase, t, 0.4)
        segments.append(Segment(start=t, end=words[-1].end, text=phrase, words=words))
        t = round(words[-1].end + 0.5, 3)
    return transcript_of(*segments)


def sample_kit() -> StudyKit:
    return StudyKit(
        preset="quick-review",
        summary=[SummarySentence(text=PHRASES[0], start=0.0, end=3.5)],
        key_terms=[
            KeyTerm(
                term="chlorophyll",
                occurrences=1,
                score=1.0,
                first_start=65.2,
                first_end=65.8,
                context=PHRASES[1],
            )
        ],
    )


def srt_cues(transcript: Transcript) -> list[srt.Subtitle]:
    return list(srt.parse(render_srt(transcript)))


def vtt_cues(transcript: Transcript) -> list[webvtt.Caption]:
    return webvtt.from_buffer(io.StringIO(render_vtt(transcript))).captions


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- formats -------------------------------------------------------------------------------


TITLE = "Biologie für alle"


def kit_with_cards() -> StudyKit:
    card = Flashcard(
        id="card-chlorophyll",
        kind="definition",
        front="chlorophyll",
        back="the green pigment that absorbs the light",
        source=Span(start=2.8, end=5.6, text=PHRASES[1]),
    )
    return sample_kit().model_copy(update={"flashcards": [card]})


def _anki_notes(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as package, tempfile.TemporaryDirectory() as tmp:
        name = next(n for n in package.namelist() if n.startswith("collection.anki2"))
        package.extract(name, tmp)
        with closing(sqlite3.connect(Path(tmp) / name)) as db:
            (count,) = db.execute("SELECT count(*) FROM notes").fetchone()
    return int(count)


def _pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


#: Written out by hand, keyed by media type (not by Pegasus's format table): how a reader
#: of that type opens the file, and what it must find there for this module's lecture.
READERS: dict[str, Callable[[bytes], object]] = {
    "text/markdown": lambda d: read_markdown(d.decode("utf-8")).headings[0] == (1, TITLE),
    "application/json": lambda d: json.loads(d)["title"] == TITLE,
    "application/x-subrip": lambda d: (
        [one_line(c.content) for c in srt.parse(d.decode())] == PHRASES
    ),
    "text/vtt": lambda d: (
        [one_line(c.text) for c in webvtt.from_buffer(io.StringIO(d.decode())).captions] == PHRASES
    ),
    "application/pdf": lambda d: TITLE in _pdf_text(d),
    "application/apkg": lambda d: _anki_notes(d) == 1,
    "text/csv": lambda d: (
        list(csv.reader(io.StringIO(d.decode("utf-8"))))
        == [["chlorophyll", "the green pigment that absorbs the light"]]
    ),
    "application/zip": lambda d: len(zipfile.ZipFile(io.BytesIO(d)).namelist()) > 1,
}


@pytest.mark.parametrize("key", sorted(EXPORT_FORMATS))
def test_each_format_renders_a_file_its_media_type_reader_opens(key: str) -> None:
    export_format = get_format(key)
    media_type, _, parameters = export_format.content_type.partition(";")
    assert media_type in READERS, f"{key}: no reader for {media_type}; add one above"

    data = render_export(key, title=TITLE, transcript=short_lecture(), kit=kit_with_cards())

    assert READERS[media_type](data) is True, f"{key} did not read back as {media_type}"
    if "charset=utf-8" in parameters.replace(" ", ""):
        data.decode("utf-8")  # raises if the declared charset is wrong


def test_the_zip_holds_each_other_format_under_its_extension() -> None:
    data = render_export("zip", title=TITLE, transcript=short_lecture(), kit=kit_with_cards())

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert {name.rsplit(".", 1)[0] for name in members} == {"Biologie_fur_alle"}
    by_extension = {name.rsplit(".", 1)[1]: body for name, body in members.items()}
    assert set(by_extension) == {"md", "json", "srt", "vtt", "pdf", "apkg", "csv"}
    for key, export_format in EXPORT_FORMATS.items():
        if key == "zip":
            continue
        media_type = export_format.content_type.split(";")[0]
        assert READERS[media_type](by_extension[export_format.extension]) is True, key


@pytest.mark.parametrize("key", ["docx", "", "MD", "zip "])
def test_unknown_format_names_exactly_the_formats_that_render(key: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        get_format(key)
    listed = caught.value.message.rsplit(":", 1)[1].strip(" .").split(", ")
    # What Pegasus offers, written out; the message must name each and nothing else.
    assert sorted(listed) == ["apkg", "csv", "json", "md", "pdf", "srt", "vtt", "zip"]
    for name in listed:
        assert render_export(name, title="t", transcript=short_lecture(), kit=kit_with_cards())
    with pytest.raises(NotFoundError):
        render_export(key, title="t", transcript=short_lecture(), kit=None)


# --- SRT and WebVTT ------------------------------------------------------------------------


def test_srt_has_one_cue_per_segment_with_its_times_and_text() -> None:
    transcript = short_lecture()

    cues = srt_cues(transcript)

    assert [c.index for c in cues] == [1, 2, 3]
    assert [one_line(c.content) for c in cues] == PHRASES
    for cue, segment in zip(cues, transcript.segments, strict=True):
        assert cue.start == timedelta(seconds=segment.start)
        assert cue.end == timedelta(seconds=segment.end)


def test_vtt_has_header_and_one_cue_per_segment() -> None:
    transcript = short_lecture()

    text = render_vtt(transcript)
    cues = vtt_cues(transcript)

    assert text.startswith("WEBVTT\n\n")
    assert [one_line(c.text) for c in cues] == PHRASES
    for cue, segment in zip(cues, transcript.segments, strict=True):
        assert cue.start_time.in_milliseconds() == round(segment.start * 1000)
        assert cue.end_time.in_milliseconds() == round(segment.end * 1000)


def test_timestamps_past_an_hour() -> None:
    transcript = transcript_of(Segment(start=3725.5, end=3727.25, text="Late in the lecture."))

    assert "01:02:05,500 --> 01:02:07,250" in render_srt(transcript)
    assert "01:02:05.500 --> 01:02:07.250" in render_vtt(transcript)


def test_long_segment_is_split_at_word_times() -> None:
    text = (
        "The light reactions happen in the thylakoid membranes and they use the energy of "
        "sunlight to split water, release oxygen, and make ATP and NADPH for the Calvin cycle."
    )
    words = timed_words(text, 10.0, 0.5)
    segment = Segment(start=10.0, end=words[-1].end, text=text, words=words)

    cues = srt_cues(transcript_of(segment))

    assert len(cues) >= 3
    assert " ".join(one_line(c.content) for c in cues) == text
    word_starts = {timedelta(seconds=w.start) for w in words}
    word_ends = {timedelta(seconds=w.end) for w in words}
    for cue in cues:
        assert len(one_line(cue.content)) <= MAX_CUE_CHARS
        assert cue.end - cue.start <= timedelta(seconds=MAX_CUE_SECONDS)
        assert cue.start in word_starts
        assert cue.end in word_ends
        assert all(len(line) <= 60 for line in cue.content.splitlines())
    assert all(a.end <= b.start for a, b in pairwise(cues))
    assert cues[0].start == timedelta(seconds=10.0)
    assert cues[-1].end == timedelta(seconds=words[-1].end)


def test_long_segment_without_word_times_is_split_in_proportion() -> None:
    text = " ".join(["chlorophyll absorbs red and blue light"] * 5)  # 194 characters
    segment = Segment(start=20.0, end=26.0, text=text)

    cues = vtt_cues(transcript_of(segment))

    assert len(cues) == 3
    assert " ".join(one_line(c.text) for c in cues) == text
    assert all(len(one_line(c.text)) <= MAX_CUE_CHARS for c in cues)
    assert cues[0].start_time.in_milliseconds() == 20_000
    assert cues[-1].end_time.in_milliseconds() == 26_000
    first_char = 0
    for cue in cues:
        expected_ms = 20_000 + 6_000 * first_char / len(text)
        assert cue.start_time.in_milliseconds() == pytest.approx(expected_ms, abs=1)
        first_char += len(one_line(cue.text)) + 1
    assert all(a.end_time <= b.start_time for a, b in pairwise(cues))


def test_a_long_quiet_segment_is_split_by_time() -> None:
    text = "Now we wait for the solution to change colour."
    words = timed_words(text, 0.0, 2.0)  # 9 words over 18 s
    cues = srt_cues(transcript_of(Segment(start=0.0, end=17.6, text=text, words=words)))

    assert len(cues) == 3
    assert all(c.end - c.start <= timedelta(seconds=MAX_CUE_SECONDS) for c in cues)
    assert " ".join(one_line(c.content) for c in cues) == text


def test_zero_and_negative_length_cues_are_lengthened_but_not_into_the_next() -> None:
    transcript = transcript_of(
        Segment(start=5.0, end=5.0, text="Zero."),
        Segment(start=8.0, end=7.0, text="Negative."),
        Segment(start=8.1, end=9.0, text="Soon after."),
    )

    cues = srt_cues(transcript)

    assert [(c.start, c.end) for c in cues] == [
        (timedelta(seconds=5.0), timedelta(seconds=5.2)),
        (timedelta(seconds=8.0), timedelta(seconds=8.1)),
        (timedelta(seconds=8.1), timedelta(seconds=9.0)),
    ]


def test_empty_segments_are_skipped_and_numbering_stays_continuous() -> None:
    transcript = transcript_of(
        Segment(start=0.0, end=1.0, text="First."),
        Segment(start=1.0, end=2.0, text="   "),
        Segment(start=2.0, end=3.0, text="Third."),
    )

    cues = srt_cues(transcript)

    assert [(c.index, c.content) for c in cues] == [(1, "First."), (2, "Third.")]
    assert [c.text for c in vtt_cues(transcript)] == ["First.", "Third."]


def test_empty_transcript_captions() -> None:
    transcript = transcript_of()

    assert render_srt(transcript) == ""
    assert render_vtt(transcript) == "WEBVTT\n"
    assert vtt_cues(transcript) == []


def test_vtt_escapes_markup_characters() -> None:
    transcript = transcript_of(Segment(start=0.0, end=2.0, text="If a < b & b > c --> a < c"))

    assert "If a &lt; b &amp; b &gt; c --&gt; a &lt; c" in render_vtt(transcript)
    [cue] = srt_cues(transcript)
    assert cue.content == "If a < b & b > c -> a < c"


# --- JSON ----------------------------------------------------------------------------------


def test_json_loads_back_into_transcript_and_kit() -> None:
    transcript = short_lecture()
    kit = sample_kit()

    document = json.loads(render_export("json", title="Café 101", transcript=transcript, kit=kit))

    assert list(document) == ["title", "transcript", "study_kit", "schema_version"]
    assert document["title"] == "Café 101"
    assert document["schema_version"] == 1
    assert Transcript.model_validate(document["transcript"]) == transcript
    assert StudyKit.model_validate(document["study_kit"]) == kit


def test_json_keeps_unicode_and_is_indented() -> None:
    text = render_json("Café 101", transcript_of(), None)

    assert '"title": "Café 101"' in text
    assert '\n  "study_kit": null,' in text
    assert json.loads(text)["transcript"] == {
        "language": "en",
        "duration_seconds": 0.0,
        "segments": [],
        "recognizer": None,  # made before transcripts recorded their model and mode
    }


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_has_title_summary_terms_and_timestamped_transcript() -> None:
    transcript = short_lecture()
    kit = sample_kit()

    outline = read_markdown(render_markdown("Photosynthesis 101", transcript, kit))

    assert outline.headings == [
        (1, "Photosynthesis 101"),
        (2, "Summary"),
        (2, "Key terms"),
        (2, "Transcript"),
    ]
    assert outline.sections[0].paragraphs == ["Duration: 00:11 · Language: en"]
    assert [
        (i.text.split(" [")[0], timestamps(i.text)) for i in outline.section("Summary").items
    ] == [(s.text, [(int(s.start), None)]) for s in kit.summary]
    (term,) = outline.section("Key terms").items
    assert term.strong == ["chlorophyll"]
    assert timestamps(term.text) == [(65, None)]  # first heard at 65.2 s
    assert term.text.endswith(PHRASES[1])
    assert [
        (timestamps(p), p.split("] ", 1)[1]) for p in outline.section("Transcript").paragraphs
    ] == [([(int(s.start), None)], s.text) for s in transcript.segments]


def test_markdown_leaves_out_empty_sections() -> None:
    text = render_markdown("Nothing yet", transcript_of(), None)

    assert text == "# Nothing yet\n\n**Duration:** 00:00 · **Language:** en\n"


def test_markdown_without_kit_still_has_the_transcript() -> None:
    outline = read_markdown(
        render_markdown("Plain", short_lecture(), StudyKit(preset="x", summary=[], key_terms=[]))
    )

    assert outline.headings == [(1, "Plain"), (2, "Transcript")]
    assert outline.section("Transcript").paragraphs[0] == (
        "[00:00] Photosynthesis is how plants turn light into sugar."
    )


def test_markdown_escapes_user_text() -> None:
    title = "Intro *to* [biology]_ # 1"
    said = "Use *args and [links](x) <b> | `code` ~~no~~"
    transcript = transcript_of(Segment(start=0.0, end=2.0, text=said))

    outline = read_markdown(render_markdown(title, transcript, None))

    # A Markdown reader shows the learner's text exactly: no emphasis, link, HTML or code.
    assert outline.headings == [(1, title), (2, "Transcript")]
    assert outline.section("Transcript").paragraphs == [f"[00:00] {said}"]
    assert outline.links == []
    assert escape("a|b`c") == "a\\|b\\`c"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "00:00"), (59.9, "00:59"), (65.2, "01:05"), (3599, "59:59"), (3725.5, "1:02:05")],
)
def test_clock(seconds: float, expected: str) -> None:
    assert clock(seconds) == expected
