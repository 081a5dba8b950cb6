"""Flashcards: definition cards and cloze cards with stable ids and verbatim sources."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pegasus.presets import Preset, get_preset
from pegasus.studykit import StudyKit, generate_kit
from pegasus.studykit.flashcards import BLANK
from pegasus.studykit.ids import stable_id
from pegasus.transcription.schemas import Transcript
from tests.transcripts import GEOLOGY_SENTENCES, make_transcript, terms_of

FULL = get_preset("full-notes")


@pytest.fixture(scope="module")
def geology() -> Transcript:
    return make_transcript(GEOLOGY_SENTENCES)


@pytest.fixture(scope="module")
def kit(geology: Transcript) -> StudyKit:
    return generate_kit(geology, FULL)


def test_definition_cards_ask_for_what_the_lecturer_said_the_term_means(kit: StudyKit) -> None:
    cards = [c for c in kit.flashcards if c.kind == "definition"]
    terms = terms_of(kit)

    assert len(cards) >= 8
    for card in cards:
        term = terms[card.front.lower()]
        assert card.back == term.definition
        assert card.source == term.source
    glacier = next(c for c in cards if c.front == "glacier")
    assert glacier.back == "a slow river of ice that forms where snow never melts"


def test_cloze_cards_blank_the_term_in_a_sentence_the_lecture_said(kit: StudyKit) -> None:
    cards = [c for c in kit.flashcards if c.kind == "cloze"]

    assert len(cards) >= 8
    for card in cards:
        assert BLANK in card.front
        assert card.back.lower() not in card.front.lower().replace(BLANK, "")
        refilled = card.front.replace(BLANK, card.back)
        assert refilled.lower() == card.source.text.lower()
    # Another sentence than the definition, which the definition card already asks about.
    plates = next(c for c in cards if c.back == "tectonic plates")
    assert plates.front == "Most volcanoes sit where [...] pull apart or push together."


def test_cards_never_repeat_and_follow_the_lecture(kit: StudyKit) -> None:
    assert len(kit.flashcards) <= FULL.flashcard_count
    fronts = [c.front for c in kit.flashcards]
    assert len(set(fronts)) == len(fronts)
    starts = [c.source.start for c in kit.flashcards]
    assert starts == sorted(starts)


def test_card_ids_are_a_hash_of_kind_source_and_term(kit: StudyKit, geology: Transcript) -> None:
    for card in kit.flashcards:
        term = card.front if card.kind == "definition" else None
        assert re.fullmatch(r"[0-9a-f]{12}", card.id)
        if term is not None:
            assert card.id == stable_id("definition", card.source.text, term)
    assert len({c.id for c in kit.flashcards}) == len(kit.flashcards)
    again = generate_kit(geology.model_copy(deep=True), FULL)
    assert [c.id for c in again.flashcards] == [c.id for c in kit.flashcards]


def test_a_small_deck_keeps_both_kinds(geology: Transcript) -> None:
    small = dataclasses.replace(FULL, flashcard_count=5)

    cards = generate_kit(geology, small).flashcards

    assert len(cards) == 5
    assert {c.kind for c in cards} == {"definition", "cloze"}


def test_cloze_fronts_lose_the_fillers() -> None:
    transcript = make_transcript(
        [
            "So, um, osmosis is the movement of water across a membrane.",
            "Um, in roots, osmosis pulls water from the soil into the plant.",
        ]
    )

    cards = generate_kit(transcript, FULL).flashcards

    cloze = next(c for c in cards if c.kind == "cloze" and c.back == "osmosis")
    assert cloze.front == "In roots, [...] pulls water from the soil into the plant."
    assert cloze.source.text == "Um, in roots, osmosis pulls water from the soil into the plant."


def test_no_cards_when_the_preset_wants_none(geology: Transcript) -> None:
    no_cards = Preset(
        key="terms",
        name="Terms",
        description="",
        outputs=("transcript", "key_terms", "flashcards"),
        exports=(),
        flashcard_count=0,
    )

    assert generate_kit(geology, no_cards).flashcards == []
    assert generate_kit(geology, get_preset("captions-only")).flashcards == []
