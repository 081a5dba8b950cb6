"""Study kit generation: extractive summary and key terms from a hand-built transcript."""

from __future__ import annotations

import pytest

from pegasus.presets import Preset, get_preset
from pegasus.studykit import StudyKit, generate_kit
from pegasus.studykit.text import (
    STOPWORDS,
    is_content_word,
    normalize,
    split_sentences,
    timed_sentences,
    tokenize,
)
from pegasus.transcription.schemas import Segment, Transcript
from tests.transcripts import (
    GEOLOGY,
    LECTURE,
    first_word,
    make_transcript,
    segment_of,
    terms_of,
)


@pytest.fixture
def lecture() -> Transcript:
    return make_transcript(LECTURE)


# --- summary -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset_key", ["quick-review", "exam-prep", "full-notes"])
def test_summary_sentences_come_from_the_transcript_in_time_order(
    lecture: Transcript, preset_key: str
) -> None:
    preset = get_preset(preset_key)

    summary = generate_kit(lecture, preset).summary

    assert len(summary) == preset.summary_sentences
    for sentence in summary:
        assert sentence.text in LECTURE
        segment = segment_of(lecture, sentence.text)
        assert sentence.start == segment.words[0].start
        assert sentence.end == segment.words[-1].end
    starts = [s.start for s in summary]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)


def test_summary_leaves_out_greetings_and_sign_offs(lecture: Transcript) -> None:
    texts = [s.text for s in generate_kit(lecture, get_preset("full-notes")).summary]

    assert "Good morning, everyone, and welcome back." not in texts
    assert "Okay, that's it for today." not in texts
    assert "Today we are going to talk about photosynthesis." not in texts


def test_short_summary_picks_sentences_about_the_main_topics(lecture: Transcript) -> None:
    summary = generate_kit(lecture, get_preset("quick-review")).summary

    topics = ("light reactions", "calvin cycle", "photosynthesis", "chlorophyll")
    assert all(any(t in s.text.lower() for t in topics) for s in summary)


def test_summary_skips_repeated_sentences() -> None:
    repeated = LECTURE[9]
    transcript = make_transcript([*LECTURE, repeated, repeated.replace("also ", "")])

    texts = [s.text for s in generate_kit(transcript, get_preset("full-notes")).summary]

    assert len(texts) == len(set(texts))
    assert sum(t in (repeated, repeated.replace("also ", "")) for t in texts) <= 1


def test_summary_of_a_sentence_that_spans_two_segments_takes_both_times() -> None:
    transcript = make_transcript(
        [
            "Chlorophyll is a green pigment that",
            "absorbs red and blue light from the sun.",
        ]
    )
    preset = Preset(
        key="one",
        name="One",
        description="",
        outputs=("transcript", "summary"),
        exports=(),
        summary_sentences=1,
    )

    [sentence] = generate_kit(transcript, preset).summary

    assert sentence.text == (
        "Chlorophyll is a green pigment that absorbs red and blue light from the sun."
    )
    assert sentence.start == transcript.segments[0].words[0].start
    assert sentence.end == transcript.segments[1].words[-1].end


def test_summary_without_word_times_uses_times_in_proportion_to_the_text() -> None:
    first = "Enzymes are proteins that speed up chemical reactions in cells."
    second = "Each enzyme binds substrates that match its active site shape."
    segment = Segment(start=10.0, end=20.0, text=f"{first} {second}")
    transcript = Transcript(language="en", duration_seconds=20.0, segments=[segment])
    preset = Preset(
        key="two",
        name="Two",
        description="",
        outputs=("transcript", "summary"),
        exports=(),
        summary_sentences=2,
    )

    summary = generate_kit(transcript, preset).summary

    assert [s.text for s in summary] == [first, second]
    assert summary[0].start == pytest.approx(10.0)
    assert summary[1].end == pytest.approx(20.0)
    boundary = 10.0 + 10.0 * len(first) / len(segment.text)
    assert summary[0].end == pytest.approx(boundary, abs=0.01)
    assert summary[1].start == pytest.approx(boundary + 10.0 / len(segment.text), abs=0.01)


# --- key terms -----------------------------------------------------------------------------


def test_key_terms_include_the_terms_the_lecture_defines(lecture: Transcript) -> None:
    preset = get_preset("quick-review")

    kit = generate_kit(lecture, preset)

    terms = terms_of(kit)
    assert {"chlorophyll", "light reactions", "calvin cycle", "photosynthesis"} <= set(terms)
    assert 0 < len(kit.key_terms) <= preset.key_term_count
    assert kit.key_terms[0].term.lower() == "light reactions"
    assert terms["light reactions"].occurrences == 5
    assert terms["calvin cycle"].occurrences == 4
    assert terms["chlorophyll"].occurrences == 3


def test_key_terms_have_no_stopwords_at_their_edges_and_no_fragments(
    lecture: Transcript,
) -> None:
    terms = terms_of(generate_kit(lecture, get_preset("full-notes")))

    for term in terms:
        words = term.split()
        assert words[0] not in STOPWORDS
        assert words[-1] not in STOPWORDS
        assert any(c.isalpha() for c in term)
    # Said mostly inside "light reactions" / "Calvin cycle", so subsumed into them.
    assert not {"light", "reactions", "calvin", "cycle", "the"} & set(terms)


def test_key_term_first_mention_and_context(lecture: Transcript) -> None:
    terms = terms_of(generate_kit(lecture, get_preset("quick-review")))

    chlorophyll = terms["chlorophyll"]
    assert chlorophyll.first_start == first_word(lecture, "chlorophyll").start
    assert chlorophyll.first_end == first_word(lecture, "chlorophyll").end
    assert chlorophyll.context == LECTURE[4]

    calvin = terms["calvin cycle"]
    assert calvin.term == "Calvin cycle"  # the spelling used mid-sentence keeps its capital
    assert calvin.first_start == first_word(lecture, "calvin").start
    assert calvin.first_end == first_word(lecture, "cycle").end
    assert calvin.context == LECTURE[6]


def test_key_terms_are_ranked_by_score(lecture: Transcript) -> None:
    key_terms = generate_kit(lecture, get_preset("full-notes")).key_terms

    scores = [t.score for t in key_terms]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 1.0
    assert all(0 < s <= 1 for s in scores)


def test_a_term_said_once_counts_only_when_it_is_defined() -> None:
    transcript = make_transcript(
        [
            "Water crosses the membrane by a process called osmosis.",
            "Students often bring an umbrella to the lab on rainy days.",
        ]
    )

    terms = terms_of(generate_kit(transcript, get_preset("quick-review")))

    assert terms["osmosis"].occurrences == 1
    assert terms["osmosis"].context == "Water crosses the membrane by a process called osmosis."
    assert "umbrella" not in terms


def test_a_defined_term_outranks_a_more_frequent_undefined_one() -> None:
    transcript = make_transcript(
        [
            "Osmosis is the movement of water across a membrane.",
            "The membrane lets water through, so osmosis can happen.",
            "Every cell has a membrane around it.",
        ]
    )
    one_term = Preset(
        key="one-term",
        name="One term",
        description="",
        outputs=("transcript", "key_terms"),
        exports=(),
        key_term_count=1,
    )

    [term] = generate_kit(transcript, one_term).key_terms

    assert (term.term, term.occurrences) == ("osmosis", 2)


def test_whisper_style_words_with_leading_spaces() -> None:
    transcript = make_transcript(LECTURE, leading_space=True)

    kit = generate_kit(transcript, get_preset("quick-review"))

    assert terms_of(kit)["chlorophyll"].context == LECTURE[4]
    assert all(s.text in LECTURE for s in kit.summary)


# --- presets and edge cases ----------------------------------------------------------------


def test_captions_only_preset_makes_no_summary_or_terms(lecture: Transcript) -> None:
    kit = generate_kit(lecture, get_preset("captions-only"))

    assert kit == StudyKit(preset="captions-only", summary=[], key_terms=[])


@pytest.mark.parametrize(
    ("preset_key", "made"),
    [
        ("quick-review", {"summary", "key_terms", "chapters", "flashcards"}),
        ("exam-prep", {"summary", "key_terms", "chapters", "flashcards", "quiz"}),
        ("full-notes", {"summary", "key_terms", "chapters", "notes", "flashcards", "quiz"}),
        ("captions-only", set()),
    ],
)
def test_each_preset_makes_the_parts_it_names(preset_key: str, made: set[str]) -> None:
    transcript = make_transcript([s for part in GEOLOGY for s in part])
    preset = get_preset(preset_key)

    kit = generate_kit(transcript, preset)

    parts = ("summary", "key_terms", "chapters", "notes", "flashcards", "quiz")
    assert {part for part in parts if getattr(kit, part)} == made
    assert {part for part in parts if preset.wants(part)} == made
    assert len(kit.flashcards) <= preset.flashcard_count
    assert len(kit.quiz) <= preset.quiz_count
    assert len(kit.key_terms) <= preset.key_term_count


def test_parts_the_preset_does_not_ask_for_stay_empty(lecture: Transcript) -> None:
    terms_only = Preset(
        key="terms",
        name="Terms",
        description="",
        outputs=("transcript", "key_terms"),
        exports=(),
        summary_sentences=5,
        key_term_count=3,
    )

    kit = generate_kit(lecture, terms_only)

    assert kit.summary == []
    assert len(kit.key_terms) == 3


@pytest.mark.parametrize(
    "segments",
    [
        [],
        [Segment(start=0.0, end=1.0, text="   ")],
        [Segment(start=0.0, end=0.0, text="...")],
    ],
)
def test_empty_transcripts_give_an_empty_kit(segments: list[Segment]) -> None:
    transcript = Transcript(language="en", duration_seconds=0.0, segments=segments)

    kit = generate_kit(transcript, get_preset("full-notes"))

    assert kit == StudyKit(preset="full-notes", summary=[], key_terms=[])


def test_generation_is_deterministic(lecture: Transcript) -> None:
    preset = get_preset("exam-prep")

    assert generate_kit(lecture, preset) == generate_kit(lecture.model_copy(deep=True), preset)


# --- text helpers --------------------------------------------------------------------------


def test_split_sentences_respects_abbreviations() -> None:
    text = (
        "Dr. Smith studies cells, e.g. neurons. They fire 3.5 times! Do they rest? yes, at night."
    )

    assert split_sentences(text) == [
        "Dr. Smith studies cells, e.g. neurons.",
        "They fire 3.5 times!",
        "Do they rest?",
        "yes, at night.",
    ]


def test_unpunctuated_speech_is_cut_at_segment_ends() -> None:
    phrase = " ".join(f"word{i}" for i in range(15))
    transcript = make_transcript([phrase] * 10)

    sentences = timed_sentences(transcript)

    assert len(sentences) > 1
    assert all(len(s.words) <= 80 for s in sentences)
    segment_ends = {s.words[-1].end for s in transcript.segments}
    assert all(s.end in segment_ends for s in sentences)


def test_tokenize_and_content_words() -> None:
    assert tokenize("Plants\u2019 cells don't store CO2 — 1984!") == [
        "plants",
        "cells",
        "don't",
        "store",
        "co2",
        "1984",
    ]
    assert is_content_word("co2")
    assert not is_content_word("1984")
    assert not is_content_word("the")
    assert not is_content_word("okay")
    assert normalize("reactions") == "reaction"
    assert normalize("bodies") == "body"
    assert normalize("process") == "process"
    assert normalize("species") == "species"
