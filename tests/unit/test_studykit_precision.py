"""Key terms a learner can trust: no everyday words, the right side of "X is called Y", no
"definition" that only repeats where the term was said, and no card asked twice."""

from __future__ import annotations

from pegasus.presets import get_preset
from pegasus.studykit import generate_kit
from pegasus.studykit.definitions import find_definition
from pegasus.studykit.flashcards import make_flashcards
from pegasus.studykit.schemas import KeyTerm, Span
from pegasus.studykit.spans import SourceText
from pegasus.studykit.text import is_common_word, timed_sentences, word_zipf
from tests.transcripts import make_transcript, terms_of

FULL = get_preset("full-notes")

#: "ocean" and "osmosis" are each said four times, neither is defined.
OCEAN_AND_OSMOSIS = [
    "The ocean covers most of the planet and osmosis happens in every cell.",
    "Fish in the ocean lose water by osmosis through their gills.",
    "Sea birds drink from the ocean and fight osmosis with salt glands.",
    "The ocean is salty, so osmosis pulls water out of anything that lives there.",
]


def test_word_frequencies_come_from_the_installed_list() -> None:
    assert word_zipf("place") > 5  # an everyday word
    assert 0 < word_zipf("osmosis") < 3  # a word of the trade
    assert word_zipf("sphenosphere") == 0  # no English word
    assert is_common_word("particles")  # as "particle"
    assert not is_common_word("capacitance")


def test_an_everyday_word_said_often_is_no_key_term_unless_defined() -> None:
    terms = terms_of(generate_kit(make_transcript(OCEAN_AND_OSMOSIS), FULL))

    assert "osmosis" in terms
    assert "ocean" not in terms

    defined = [*OCEAN_AND_OSMOSIS, "An ocean is a large body of salt water between continents."]
    assert terms_of(generate_kit(make_transcript(defined), FULL))["ocean"].definition == (
        "a large body of salt water between continents"
    )


def test_a_phrase_of_everyday_words_must_be_a_noun_phrase_that_recurs() -> None:
    sentences = [
        "The current flows through the wire, and it flows back to the battery.",
        "In a series circuit the current flows through every component in turn.",
        "The current flows fastest where the wire is thick.",
        "A series circuit has one path, and a series circuit breaks if one bulb fails.",
        "The main driving force is the battery, and the main driving force never rests.",
        "Resistance in a series circuit adds up, so the capacitance of the plates matters.",
        "Capacitance stores charge, and capacitance sets how fast the plates fill.",
    ]

    terms = terms_of(generate_kit(make_transcript(sentences), FULL))

    assert "series circuit" in terms  # a noun phrase said four times
    assert "current flows" not in terms  # a clause: "it flows" shows "flows" is a verb
    assert "main driving force" not in terms  # said twice, everyday words only
    assert "capacitance" in terms


def test_is_called_names_the_term_after_it_and_the_card_asks_that_term() -> None:
    sentences = [
        "Water keeps moving into the cell.",
        "The movement of water across a membrane is called osmosis.",
        "Osmosis makes plant cells firm.",
    ]
    kit = generate_kit(make_transcript(sentences), FULL)

    terms = terms_of(kit)
    assert terms["osmosis"].definition == "The movement of water across a membrane"
    assert "movement of water" not in terms
    cards = [c for c in kit.flashcards if c.kind == "definition"]
    assert [(c.front, c.back) for c in cards] == [
        ("osmosis", "The movement of water across a membrane")
    ]


def test_a_subject_that_points_back_is_not_the_term_defined() -> None:
    sentences = [
        "A battery gives every charge a push around the loop of wire.",
        "That push is the voltage that drives the current round the circuit.",
        "The voltage of a fresh battery is one and a half volts.",
    ]

    terms = terms_of(generate_kit(make_transcript(sentences), FULL))

    assert "push" not in terms
    assert all("voltage" not in t.definition for t in terms.values())
    assert find_definition(timed_sentences(make_transcript(sentences)), ("push",)) is None


def test_a_term_named_inside_a_clause_takes_a_real_explanation_instead() -> None:
    sentences = [
        "Merge sort is an example of a strategy we call divide and conquer.",
        "Divide and conquer breaks a problem into smaller copies of itself and combines them.",
        "Quick sort follows divide and conquer too.",
    ]

    terms = terms_of(generate_kit(make_transcript(sentences), FULL))

    assert terms["divide and conquer"].definition == (
        "breaks a problem into smaller copies of itself and combines them"
    )


def test_no_term_whose_only_explanation_is_the_sentence_it_is_said_in() -> None:
    sentences = [
        "A hash table is a data structure that stores values in an array of buckets.",
        "A phone book is the classic example, because nobody reads it from the first page.",
        "A poor hash function sends many keys to the same bucket of the hash table.",
        "The Andes are a volcanic arc, built where one plate dives beneath another.",
        "The sphenosphere is a hotter zone beneath the plates of the hash table.",
    ]

    terms = terms_of(generate_kit(make_transcript(sentences), FULL))

    assert terms["hash table"].definition == (
        "a data structure that stores values in an array of buckets"
    )
    assert "phone book" not in terms  # "is the classic example": no definition
    assert "poor hash function" not in terms  # said once, only what it does
    assert "andes" not in terms  # a name the lecture does not name as a term
    assert "sphenosphere" not in terms  # said once and no English word: a mis-hearing


def _term(term: str, definition: str, source: Span) -> KeyTerm:
    return KeyTerm(
        term=term,
        occurrences=2,
        score=1.0,
        first_start=source.start,
        first_end=source.end,
        context=source.text,
        definition=definition,
        source=source,
    )


def test_one_fact_is_one_card_of_each_kind() -> None:
    sentences = [
        "Plants split water and fix carbon in two linked steps.",
        "The light reactions and the Calvin cycle run side by side in the chloroplast all day.",
    ]
    transcript = make_transcript(sentences)
    timed = timed_sentences(transcript)
    source = SourceText(transcript, timed)
    before = source.span(0)
    shared = "Plants split water and fix carbon in two linked steps"
    terms = [
        _term("light reactions", shared, before),
        _term("Calvin cycle", shared, before),
    ]

    cards = make_flashcards(timed, terms, source, count=10)

    definitions = [c for c in cards if c.kind == "definition"]
    clozes = [c for c in cards if c.kind == "cloze"]
    assert len(definitions) == 1  # the same answer for both terms: asked once
    # Both terms are said in one sentence only: it makes one cloze card, not two.
    assert [c.source.text for c in clozes] == [sentences[1]]
