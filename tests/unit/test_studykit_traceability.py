"""Every item a learner studies from quotes the transcript: its span's text is really there.

Also the notes, whose bullets are the most traceable items of all (one sentence each).
"""

from __future__ import annotations

import random

import pytest

from pegasus.presets import get_preset
from pegasus.studykit import StudyKit, generate_kit
from pegasus.studykit.schemas import Span
from pegasus.studykit.text import strip_fillers
from pegasus.transcription.schemas import Segment, Transcript, Word
from tests.transcripts import GEOLOGY, GEOLOGY_SENTENCES, make_transcript

FULL = get_preset("full-notes")


def spans_of(kit: StudyKit) -> list[Span]:
    spans = [t.source for t in kit.key_terms if t.source is not None]
    spans += [b.source for section in kit.notes for b in section.bullets]
    spans += [c.source for c in kit.flashcards]
    spans += [q.source for q in kit.quiz]
    return spans


def one_segment(transcript: Transcript) -> Transcript:
    """The whole lecture as one segment without word times."""
    text = " ".join(s.text.strip() for s in transcript.segments)
    segment = Segment(start=0.0, end=transcript.duration_seconds, text=text)
    return transcript.model_copy(update={"segments": [segment]})


def split_mid_sentence(transcript: Transcript, size: int = 7) -> Transcript:
    """Segments of ``size`` words each, cutting sentences anywhere."""
    words = [w for s in transcript.segments for w in s.words]
    segments = [
        Segment(
            start=chunk[0].start,
            end=chunk[-1].end,
            text=" ".join(w.word for w in chunk),
            words=chunk,
        )
        for chunk in (words[i : i + size] for i in range(0, len(words), size))
    ]
    return transcript.model_copy(update={"segments": segments})


def punctuation_as_words(transcript: Transcript) -> Transcript:
    """Words where the recogniser split punctuation off ("ice", "."), while the segment text
    has it attached, with irregular spaces: sentence text then differs from segment text."""
    segments = []
    for segment in transcript.segments:
        words: list[Word] = []
        for word in segment.words:
            core = word.word.rstrip(".,")
            words.append(word.model_copy(update={"word": core}))
            if core != word.word:
                words.append(word.model_copy(update={"word": word.word[len(core) :]}))
        text = "  ".join(segment.text.split())
        segments.append(segment.model_copy(update={"words": words, "text": text}))
    return transcript.model_copy(update={"segments": segments})


def respelled_words(transcript: Transcript) -> Transcript:
    """Word texts that disagree with the segment text (a recogniser's two outputs)."""
    segments = [
        s.model_copy(
            update={
                "words": [
                    w.model_copy(update={"word": w.word.replace("glacier", "glazier")})
                    for w in s.words
                ]
            }
        )
        for s in transcript.segments
    ]
    return transcript.model_copy(update={"segments": segments})


VARIANTS = {
    "word times": lambda: make_transcript(GEOLOGY_SENTENCES),
    "leading spaces": lambda: make_transcript(GEOLOGY_SENTENCES, leading_space=True),
    "no word times": lambda: make_transcript(GEOLOGY_SENTENCES, with_words=False),
    "one segment": lambda: one_segment(make_transcript(GEOLOGY_SENTENCES)),
    "split mid-sentence": lambda: split_mid_sentence(make_transcript(GEOLOGY_SENTENCES)),
    "punctuation as words": lambda: punctuation_as_words(make_transcript(GEOLOGY_SENTENCES)),
    "respelled words": lambda: respelled_words(make_transcript(GEOLOGY_SENTENCES)),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_source_span_is_verbatim_transcript_text_within_its_times(variant: str) -> None:
    transcript = VARIANTS[variant]()

    kit = generate_kit(transcript, FULL)

    spans = spans_of(kit)
    assert len(kit.flashcards) >= 10
    assert len(kit.quiz) >= 5
    assert len(spans) >= 50
    text = transcript.text
    for span in spans:
        assert span.text.strip()
        assert span.text in text, span.text
        assert 0 <= span.start <= span.end <= transcript.duration_seconds
    assert all(t.source is not None for t in kit.key_terms)


def test_a_span_covers_the_words_it_quotes() -> None:
    transcript = make_transcript(GEOLOGY_SENTENCES)

    kit = generate_kit(transcript, FULL)

    by_text = {s.text.strip(): s for s in transcript.segments}
    single = [span for span in spans_of(kit) if span.text in by_text]
    assert len(single) >= 40
    for span in single:  # one sentence: exactly its first to last word
        segment = by_text[span.text]
        assert (span.start, span.end) == (segment.words[0].start, segment.words[-1].end)


# --- notes ---------------------------------------------------------------------------------


def test_notes_have_one_section_per_chapter_with_bullets_from_it() -> None:
    transcript = make_transcript(GEOLOGY_SENTENCES)

    kit = generate_kit(transcript, FULL)

    assert [n.chapter for n in kit.notes] == [c.index for c in kit.chapters]
    assert [n.heading for n in kit.notes] == [c.title for c in kit.chapters]
    for section, chapter, part in zip(kit.notes, kit.chapters, GEOLOGY, strict=True):
        assert 2 <= len(section.bullets) <= 6
        for bullet in section.bullets:
            assert chapter.start <= bullet.source.start < bullet.source.end <= chapter.end
            assert bullet.source.text in part
        starts = [b.source.start for b in section.bullets]
        assert starts == sorted(starts)
    # Greetings and sign-offs are not notes.
    bullets = [b.text for n in kit.notes for b in n.bullets]
    assert "Good morning, today we start with volcanoes." not in bullets


def test_note_bullets_drop_spoken_fillers() -> None:
    assert strip_fillers("So, um, magma is molten rock, you know, under the ground.") == (
        "Magma is molten rock under the ground."
    )
    assert strip_fillers("Okay so the uh mantle flows slowly.") == "The mantle flows slowly."
    assert strip_fillers("Like magma, lava is hot.") == "Like magma, lava is hot."
    assert strip_fillers("So, um, yes.") == "So, um, yes."  # too little would be left
    sentences = [f"So, um, {s[0].lower()}{s[1:]}" for s in GEOLOGY_SENTENCES]

    kit = generate_kit(make_transcript(sentences), FULL)

    for bullet in (b for n in kit.notes for b in n.bullets):
        assert not bullet.text.lower().startswith(("so", "um"))
        assert bullet.source.text.startswith("So, um, ")
        assert bullet.source.text.lower().endswith(bullet.text.lower())


def _jumbled(seed: int) -> Transcript:
    """A transcript of lecture words in random order, with stray punctuation, words that
    disagree with the segment text, segments without word times, and a duration that may be
    missing or shorter than the last word."""
    rng = random.Random(seed)
    vocabulary = " ".join(GEOLOGY_SENTENCES).split()
    vocabulary += [",", ".", "?", "...", "\u2014", "um", "so", "is", "called", "which", "means"]
    segments = []
    t = rng.random() * 3
    for _ in range(rng.randint(0, 40)):
        tokens = [rng.choice(vocabulary) for _ in range(rng.randint(1, 25))]
        words = []
        for token in tokens:
            length = rng.random() * 0.5
            words.append(Word(start=round(t, 3), end=round(t + length, 3), word=f" {token}"))
            t += length + rng.random() * 0.2
        text = " ".join(tokens if rng.random() < 0.9 else reversed(tokens))
        segments.append(
            Segment(
                start=words[0].start,
                end=round(t, 3),
                text=text,
                words=words if rng.random() < 0.7 else [],
            )
        )
    duration = round(t * rng.choice([1.0, 1.2, 0.9, 0.0]), 3)
    return Transcript(language="en", duration_seconds=duration, segments=segments)


@pytest.mark.parametrize("seed", range(40))
def test_jumbled_transcripts_still_give_a_valid_traceable_kit(seed: int) -> None:
    transcript = _jumbled(seed)

    kit = generate_kit(transcript, FULL)  # the schema validators would raise on a bad kit

    for span in spans_of(kit):
        assert span.text.strip()
        assert span.text in transcript.text
        assert 0 <= span.start <= span.end
        if transcript.duration_seconds:
            assert span.end <= transcript.duration_seconds
    if kit.chapters and transcript.duration_seconds:
        assert kit.chapters[-1].end == transcript.duration_seconds
