"""Definitions: the lecturer's own words for what a key term means, and where they said it."""

from __future__ import annotations

import pytest

from pegasus.presets import get_preset
from pegasus.studykit import generate_kit
from pegasus.studykit.definitions import find_definition
from pegasus.studykit.text import term_key, timed_sentences
from tests.transcripts import GEOLOGY_SENTENCES, LECTURE, make_transcript, terms_of


def definition_of(term: str, *sentences: str) -> str | None:
    found = find_definition(timed_sentences(make_transcript(list(sentences))), term_key(term))
    return found.text if found is not None else None


@pytest.mark.parametrize(
    ("term", "sentences", "expected"),
    [
        (
            "osmosis",
            ["Osmosis is the movement of water across a membrane."],
            "the movement of water across a membrane",
        ),
        (
            "entropy",
            ["So, entropy refers to the disorder of a system."],
            "the disorder of a system",
        ),
        (
            "ATP",
            ["ATP, which means adenosine triphosphate, carries energy in the cell."],
            "adenosine triphosphate",
        ),
        (
            "DNA",
            ["DNA stands for deoxyribonucleic acid."],
            "deoxyribonucleic acid",
        ),
        (
            "catalyst",
            ["A catalyst is defined as a substance that speeds up a reaction."],
            "a substance that speeds up a reaction",
        ),
        (
            "law of demand",
            ["The law of demand states that buyers purchase less when prices rise."],
            "buyers purchase less when prices rise",
        ),
        (
            "magma",
            ["Magma is molten rock that is still underground."],
            "molten rock that is still underground",
        ),
        (
            "osmosis",
            ["The movement of water across a membrane is called osmosis."],
            "The movement of water across a membrane",
        ),
        (
            "moraine",
            ["The rubble a glacier leaves behind is known as a moraine."],
            "The rubble a glacier leaves behind",
        ),
        (
            "osmosis",
            [
                "Water moves from a dilute solution into a concentrated one.",
                "We call this osmosis.",
            ],
            "Water moves from a dilute solution into a concentrated one",
        ),
        (
            "diffusion",
            ["Perfume spreads by a process called diffusion, where particles spread out evenly."],
            "particles spread out evenly",
        ),
    ],
)
def test_definition_forms(term: str, sentences: list[str], expected: str) -> None:
    assert definition_of(term, *sentences) == expected


@pytest.mark.parametrize(
    ("term", "sentences"),
    [
        ("photosynthesis", ["Photosynthesis is important for every plant on earth."]),
        ("osmosis", ["Osmosis is the topic for today's lecture."]),
        ("diffusion", ["Facilitated diffusion refers to transport through a channel protein."]),
        ("light reactions", [LECTURE[6]]),  # "called the light reactions and the Calvin cycle"
        ("market", ["The point where the curves cross is called the market equilibrium."]),
        ("osmosis", ["Osmosis is the process that drives osmosis in roots."]),
        ("osmosis", ["Water crosses membranes all the time.", "Is this osmosis?"]),
    ],
)
def test_no_definition_where_the_lecture_does_not_give_one(term: str, sentences: list[str]) -> None:
    assert definition_of(term, *sentences) is None


def test_an_explicit_definition_beats_an_earlier_naming() -> None:
    found = definition_of(
        "ATP",
        "The energy comes from a small molecule called ATP.",
        "ATP stands for adenosine triphosphate, the energy currency of the cell.",
    )

    assert found == "adenosine triphosphate, the energy currency of the cell"


def test_key_terms_carry_the_definition_and_its_verbatim_source() -> None:
    transcript = make_transcript(GEOLOGY_SENTENCES)

    terms = terms_of(generate_kit(transcript, get_preset("full-notes")))

    erosion = terms["erosion"]
    assert erosion.definition == "the wearing away of rock and soil by water, wind or ice"
    assert erosion.source is not None
    assert erosion.source.text == (
        "Erosion refers to the wearing away of rock and soil by water, wind or ice."
    )
    segment = next(s for s in transcript.segments if s.text.strip() == erosion.source.text)
    assert (erosion.source.start, erosion.source.end) == (
        segment.words[0].start,
        segment.words[-1].end,
    )
    moraine = terms["moraine"]
    assert moraine.definition == "The rubble a glacier pushes and leaves behind"


def test_a_definition_from_the_sentence_before_spans_both_sentences() -> None:
    sentences = [
        "Water moves from a dilute solution into a concentrated one.",
        "We call this osmosis.",
        "Osmosis keeps plant cells firm.",
    ]
    transcript = make_transcript(sentences)

    osmosis = terms_of(generate_kit(transcript, get_preset("full-notes")))["osmosis"]

    assert osmosis.definition == "Water moves from a dilute solution into a concentrated one"
    assert osmosis.source is not None
    assert osmosis.source.text == f"{sentences[0]} {sentences[1]}"
    assert osmosis.source.start == transcript.segments[0].start
    assert osmosis.source.end == transcript.segments[1].end


def test_an_undefined_term_points_at_its_first_use() -> None:
    # "glacier ice" recurs seven times and is never defined ("energy" in the photosynthesis
    # lecture used to be the example; an everyday word is no key term any more).
    transcript = make_transcript(GEOLOGY_SENTENCES)

    ice = terms_of(generate_kit(transcript, get_preset("full-notes")))["glacier ice"]

    assert ice.definition == ""
    assert ice.source is not None
    first_use = next(s for s in GEOLOGY_SENTENCES if "glacier ice" in s)
    assert ice.source.text == first_use
