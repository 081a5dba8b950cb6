"""Chapters: a segmentation of the whole timeline at the lecture's topic shifts."""

from __future__ import annotations

import dataclasses
import random

import pytest

from pegasus.presets import Preset, get_preset
from pegasus.studykit import generate_kit
from pegasus.studykit.chapters import MIN_SECONDS, cue_strength, segment
from pegasus.studykit.schemas import Chapter, StudyKit
from pegasus.studykit.text import timed_sentences
from pegasus.transcription.schemas import Transcript
from tests.transcripts import (
    GEOLOGY,
    GEOLOGY_SENTENCES,
    LECTURE,
    make_transcript,
    part_starts,
)

CHAPTERS_ONLY = Preset(
    key="chapters",
    name="Chapters",
    description="",
    outputs=("transcript", "chapters"),
    exports=(),
)


@pytest.fixture(scope="module")
def geology() -> Transcript:
    return make_transcript(GEOLOGY_SENTENCES)


def assert_tiles(chapters: list[Chapter], duration: float) -> None:
    assert chapters[0].start == 0
    assert chapters[-1].end == duration
    for index, chapter in enumerate(chapters):
        assert chapter.index == index
        assert chapter.end > chapter.start
        if index:
            assert chapter.start == chapters[index - 1].end


def test_chapters_cover_the_whole_timeline_in_order(geology: Transcript) -> None:
    chapters = generate_kit(geology, CHAPTERS_ONLY).chapters

    assert_tiles(chapters, geology.duration_seconds)


def test_chapter_boundaries_fall_in_the_pause_before_each_new_topic(
    geology: Transcript,
) -> None:
    chapters = generate_kit(geology, CHAPTERS_ONLY).chapters

    assert len(chapters) == len(GEOLOGY)
    first_sentence = 0
    for chapter, part in zip(chapters[1:], GEOLOGY, strict=False):
        first_sentence += len(part)
        last_said = geology.segments[first_sentence - 1].end
        next_said = geology.segments[first_sentence].start
        assert last_said < chapter.start < next_said
    assert [c.start for c in chapters[1:]] == pytest.approx(part_starts(geology)[1:], abs=0.5)


def test_chapter_titles_name_each_topic_in_title_case(geology: Transcript) -> None:
    titles = [c.title for c in generate_kit(geology, CHAPTERS_ONLY).chapters]

    topics = (("volcano", "magma", "lava"), ("glacier", "moraine"), ("river", "delta", "meander"))
    for title, words in zip(titles, topics, strict=True):
        assert any(word in title.lower() for word in words), title
        assert len(title.split()) <= 5
        assert all(w[0].isupper() or w in ("and", "of") for w in title.split()), title
    assert len(set(titles)) == len(titles)


def test_a_short_lecture_is_one_chapter() -> None:
    transcript = make_transcript(LECTURE)

    chapters = generate_kit(transcript, CHAPTERS_ONLY).chapters

    assert len(chapters) == 1
    assert (chapters[0].start, chapters[0].end) == (0, transcript.duration_seconds)
    assert "light reactions" in chapters[0].title.lower()


def test_chapters_end_at_the_recording_end_even_after_silence(geology: Transcript) -> None:
    longer = geology.model_copy(update={"duration_seconds": geology.duration_seconds + 60})

    chapters = generate_kit(longer, CHAPTERS_ONLY).chapters

    assert_tiles(chapters, longer.duration_seconds)


def _synthetic_lecture(topics: int, sentences_per_topic: int) -> tuple[list[str], list[int]]:
    """Made-up vocabulary per topic, so every topic shift is a clean lexical break."""
    rng = random.Random(7)
    syllables = [c + v for c in "bklmnr" for v in "aeio"]
    templates = [
        "The {} holds the {} near the {}.",
        "Every {} needs a {} and a {}.",
        "Students compare the {} with the {} and the {}.",
        "A {} grows when the {} meets the {}.",
        "We measure the {} against the {} in the {}.",
    ]
    sentences: list[str] = []
    starts = []
    for _ in range(topics):
        vocabulary = ["".join(rng.choice(syllables) for _ in range(3)) for _ in range(10)]
        starts.append(len(sentences))
        sentences += [
            rng.choice(templates).format(*rng.sample(vocabulary, 3))
            for _ in range(sentences_per_topic)
        ]
    return sentences, starts


def test_a_long_lecture_gets_a_chapter_every_three_to_eight_minutes() -> None:
    sentences, topic_starts = _synthetic_lecture(topics=6, sentences_per_topic=50)
    transcript = make_transcript(sentences)
    minutes = transcript.duration_seconds / 60

    chapters = generate_kit(transcript, CHAPTERS_ONLY).chapters

    assert_tiles(chapters, transcript.duration_seconds)
    assert minutes / 8 <= len(chapters) <= minutes / 3
    shifts = [transcript.segments[i].start for i in topic_starts[1:]]
    for chapter in chapters[1:]:
        assert min(abs(chapter.start - shift) for shift in shifts) < 30


def test_every_chapter_lasts_at_least_the_minimum() -> None:
    sentences, _ = _synthetic_lecture(topics=8, sentences_per_topic=8)  # ~35 s topics
    transcript = make_transcript(sentences)

    chapters = generate_kit(transcript, CHAPTERS_ONLY).chapters

    assert len(chapters) > 1
    assert all(c.end - c.start >= MIN_SECONDS for c in chapters)


@pytest.mark.parametrize(
    ("sentence", "strength"),
    [
        ("Next, let's look at enzymes.", 1.0),
        ("Okay, so now let's turn to the Calvin cycle.", 1.0),
        ("Moving on to the second stage.", 1.0),
        ("In the second part we look at prices.", 1.0),
        ("Finally, rivers shape the land.", 1.0),
        ("To summarise, prices move until plans match.", 1.0),
        ("Now, the membrane is thin.", 0.4),
        ("The next molecule is ATP.", 0.0),
        ("Enzymes speed up reactions.", 0.0),
    ],
)
def test_cue_phrases_that_open_a_new_part(sentence: str, strength: float) -> None:
    [timed] = timed_sentences(make_transcript([sentence]))

    assert cue_strength(timed) == pytest.approx(strength)


ENZYMES = "Enzymes bind substrates in the active site and lower the activation energy."


def test_a_lecture_that_never_changes_topic_is_one_chapter() -> None:
    transcript = make_transcript([ENZYMES] * 30)  # two minutes of the same words

    assert len(generate_kit(transcript, CHAPTERS_ONLY).chapters) == 1


def test_a_cue_phrase_alone_opens_a_chapter() -> None:
    # The same words throughout: only "Next," tells where the second part starts.
    sentences = [ENZYMES] * 15 + [f"Next, {ENZYMES[0].lower()}{ENZYMES[1:]}"] + [ENZYMES] * 15
    transcript = make_transcript(sentences)

    chapters = generate_kit(transcript, CHAPTERS_ONLY).chapters

    assert len(chapters) == 2
    cue = transcript.segments[15]
    assert transcript.segments[14].end < chapters[1].start < cue.start


def test_segment_of_nothing_is_no_chapters() -> None:
    assert segment([], 10.0, []) == []
    assert generate_kit(
        Transcript(language="en", duration_seconds=5.0, segments=[]), CHAPTERS_ONLY
    ) == StudyKit(preset="chapters", summary=[], key_terms=[])


def test_chapters_are_left_out_when_the_preset_does_not_want_them(geology: Transcript) -> None:
    notes_only = dataclasses.replace(get_preset("full-notes"), outputs=("transcript", "notes"))

    kit = generate_kit(geology, notes_only)

    assert kit.chapters == []
    assert len(kit.notes) == len(GEOLOGY)  # notes still follow the chapters
