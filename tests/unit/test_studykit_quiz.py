"""Quiz: four options, one correct, three distractors taken from the lecture's own terms."""

from __future__ import annotations

import dataclasses

import pytest

from pegasus.presets import get_preset
from pegasus.studykit import StudyKit, generate_kit
from pegasus.studykit.schemas import QuizItem
from pegasus.studykit.text import term_key
from pegasus.transcription.schemas import Transcript
from tests.transcripts import GEOLOGY_SENTENCES, make_transcript

FULL = get_preset("full-notes")


@pytest.fixture(scope="module")
def geology() -> Transcript:
    return make_transcript(GEOLOGY_SENTENCES)


@pytest.fixture(scope="module")
def kit(geology: Transcript) -> StudyKit:
    return generate_kit(geology, FULL)


def correct(item: QuizItem) -> str:
    return item.options[item.answer_index]


def test_the_quiz_asks_about_every_term_and_every_item_has_four_different_options(
    kit: StudyKit,
) -> None:
    # One question per key term, up to the preset's count: the lecture has fewer key terms
    # than the full-notes quiz asks for, now that everyday words are no key terms.
    assert len(kit.quiz) == min(FULL.quiz_count, len(kit.key_terms))
    assert len(kit.quiz) >= 12
    for item in kit.quiz:
        assert len(item.options) == 4
        assert len({o.strip().lower() for o in item.options}) == 4


def test_term_questions_quote_a_definition_and_offer_lecture_terms(kit: StudyKit) -> None:
    terms = {t.term: t for t in kit.key_terms}
    items = [q for q in kit.quiz if q.question.startswith("Which term describes: ")]

    assert len(items) >= 3
    for item in items:
        answer = terms[correct(item)]
        assert item.question == f"Which term describes: {answer.definition}?"
        assert item.source == answer.source
        assert set(item.options) <= set(terms)  # distractors are the lecture's terms


def test_definition_questions_offer_other_terms_definitions(kit: StudyKit) -> None:
    definitions = {t.definition: t for t in kit.key_terms if t.definition}
    items = [q for q in kit.quiz if q.question.startswith("Which of these describes ")]

    assert items
    for item in items:
        term = item.question.removeprefix("Which of these describes ").removesuffix("?")
        assert definitions[correct(item)].term == term
        assert set(item.options) <= set(definitions)


def test_exactly_one_option_is_the_answer(kit: StudyKit) -> None:
    for item in kit.quiz:
        if item.question.startswith("Which of these describes "):
            continue
        answer = set(term_key(correct(item)))
        wrong = [o for i, o in enumerate(item.options) if i != item.answer_index]
        # No distractor shares a word with the answer: "glacier" never next to "glacier ice".
        assert all(not answer & set(term_key(option)) for option in wrong), item
        # Nor is a distractor named in the question, where it could look like the answer.
        question_words = " ".join(term_key(item.question))
        assert all(" ".join(term_key(option)) not in question_words for option in wrong), item


def test_distractors_prefer_terms_from_the_same_chapter(kit: StudyKit) -> None:
    chapter_of = {
        t.term: next(c.index for c in kit.chapters if c.start <= t.source.start < c.end)
        for t in kit.key_terms
        if t.source is not None
    }
    items = [q for q in kit.quiz if q.question.startswith("Which term ")]

    same = sum(
        chapter_of[o] == chapter_of[correct(q)]
        for q in items
        for i, o in enumerate(q.options)
        if i != q.answer_index
    )
    assert same / (3 * len(items)) > 0.5


def test_each_explanation_is_one_line_quoting_the_source(kit: StudyKit) -> None:
    for item in kit.quiz:
        assert "\n" not in item.explanation
        assert item.explanation == f'The lecture says: "{item.source.text}"'


def test_answers_are_shuffled_deterministically(kit: StudyKit, geology: Transcript) -> None:
    positions = {item.answer_index for item in kit.quiz}

    assert len(positions) >= 3
    assert generate_kit(geology.model_copy(deep=True), FULL).quiz == kit.quiz
    assert len({item.id for item in kit.quiz}) == len(kit.quiz)


def test_gap_questions_blank_the_term_in_its_sentence(kit: StudyKit) -> None:
    items = [q for q in kit.quiz if q.question.startswith("Which term fills the gap? ")]

    assert items
    for item in items:
        gapped = item.question.removeprefix("Which term fills the gap? ").strip('"')
        assert "[...]" in gapped
        assert gapped.replace("[...]", correct(item)).lower() == item.source.text.lower()


def test_no_question_without_three_distractors() -> None:
    transcript = make_transcript(
        [
            "Osmosis is the movement of water across a membrane.",
            "Diffusion is the spreading of particles from crowded to empty places.",
            "A membrane is a thin layer that wraps every cell.",
        ]
    )

    assert generate_kit(transcript, FULL).quiz == []


def test_the_quiz_size_follows_the_preset(geology: Transcript) -> None:
    three = dataclasses.replace(FULL, quiz_count=3)

    assert len(generate_kit(geology, three).quiz) == 3
    assert generate_kit(geology, get_preset("quick-review")).quiz == []
