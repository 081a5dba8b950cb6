"""The rules that decide which phrases are a lecture's key terms and what defines them: names
the lecture defines, how a naming says what kind of thing it names, which side of an
apposition is the term, a budget for terms never defined, and what a speech recogniser
tends to write instead of "is"."""

from __future__ import annotations

from pegasus.presets import get_preset
from pegasus.studykit import generate_kit
from pegasus.studykit.definitions import find_definition
from pegasus.studykit.key_terms import extract_key_terms
from pegasus.studykit.schemas import KeyTerm
from pegasus.studykit.text import term_key, timed_sentences
from tests.transcripts import make_transcript, terms_of

FULL = get_preset("full-notes")


def _terms(sentences: list[str]) -> dict[str, KeyTerm]:
    return terms_of(generate_kit(make_transcript(sentences), FULL))


def test_a_recognisers_hyphen_glued_to_a_word_joins_a_compound() -> None:
    sentences = [
        "We now know that a mid -ocean ridge winds around the whole globe.",
        "Every mid -ocean ridge has a deep valley along its crest - and lava in it.",
        "New floor forms at the mid -ocean ridge and moves away on both sides.",
    ]
    timed = timed_sentences(make_transcript(sentences))

    ocean = next(w for w in timed[0].words if w.lower == "ocean")
    assert not ocean.breaks_before  # "mid -ocean": one compound
    lava = next(w for w in timed[1].words if w.lower == "and")
    assert lava.breaks_before  # " - ": a dash between words still breaks
    assert "mid ocean ridge" in _terms(sentences)


def test_a_repeated_word_and_a_comma_after_an_explicit_verb_still_define() -> None:
    sentences = [
        "Finally, how strongly do buyers react to a price price elasticity of demand "
        "measures, how much the quantity demanded responds to a change in price.",
        "Salt has a low price elasticity of demand, so its sales hardly change.",
    ]

    terms = _terms(sentences)

    assert terms["price elasticity of demand"].definition == (
        "how much the quantity demanded responds to a change in price"
    )
    assert "price price elasticity" not in terms


def test_names_open_with_a_capitalised_everyday_word_or_a_symbol() -> None:
    sentences = [
        "We describe time complexity with big O notation.",
        "Big O notation is a way of writing the growth rate while ignoring constant factors.",
        "In 60 BC three men formed a private alliance, and historians call it the First "
        "Triumvirate.",
    ]

    terms = _terms(sentences)

    assert terms["big o notation"].definition == (
        "a way of writing the growth rate while ignoring constant factors"
    )
    assert "first triumvirate" in terms
    assert "triumvirate" not in terms


def test_a_verb_in_the_past_is_never_part_of_a_term() -> None:
    sentences = [
        "The consuls held imperium, the power to command an army and to enforce the law.",
        "Later the praetors held imperium just like the consuls.",
        "At the top of the ladder stood the consulship, the great prize of a career.",
    ]

    terms = _terms(sentences)

    assert "held imperium" not in terms
    assert "ladder stood the consulship" not in terms
    assert terms["imperium"].definition == ("the power to command an army and to enforce the law")


def test_an_appositive_opened_by_the_must_describe_not_name_or_go_on() -> None:
    sentences = [
        "The consuls held imperium, the power to command an army.",
        "Resistance times capacitance gives a time, and that time, the time constant, "
        "tells you how fast the capacitor charges.",
        "After yet another secession, the Hortensian law made the resolutions binding.",
        "ATP stands for adenosine triphosphate, the energy currency of the cell.",
        "Each secession emptied the city of plebeians.",
    ]
    timed = timed_sentences(make_transcript(sentences))

    imperium = find_definition(timed, ("imperium",), introduced=True)
    assert imperium is not None
    assert imperium.text == "the power to command an army"
    time = find_definition(timed, ("time",), introduced=True)
    assert time is None or "time constant" not in time.text  # the term itself, no description
    assert find_definition(timed, ("secession",), introduced=True) is None  # a clause follows
    assert find_definition(timed, term_key("adenosine triphosphate"), introduced=True) is None


def test_a_naming_that_says_the_kind_of_thing_makes_a_name_a_term() -> None:
    sentences = [
        "He argued that all the land on Earth once formed one enormous landmass.",
        "He called this supercontinent Pangaea, from the Greek words for all and earth.",
        "For two hundred years they pushed for a share of power, and historians call this "
        "long struggle the Conflict of the Orders.",
        "Carthage called Hannibal home, and Scipio defeated him at Zama.",
    ]

    terms = _terms(sentences)

    assert terms["pangaea"].definition == (
        "He argued that all the land on Earth once formed one enormous landmass"
    )
    assert terms["conflict of the orders"].definition == (
        "For two hundred years they pushed for a share of power"
    )
    assert "supercontinent pangaea" not in terms
    assert "hannibal home" not in terms  # "called" as in "summoned"
    assert "hannibal" not in terms


def test_a_hedged_comparison_names_nothing() -> None:
    sentences = [
        "A patron helped his clients with money, and they voted the way he wished.",
        "You might call it a system of mutual obligation, and you might also call it a very "
        "efficient way of collecting votes.",
    ]

    terms = _terms(sentences)

    assert "system of mutual obligation" not in terms
    assert "efficient way" not in terms


def test_a_subject_pointing_back_at_what_was_just_described_names_the_complement() -> None:
    sentences = [
        "The lithosphere is broken into large rigid pieces that move relative to one another.",
        "Each of these pieces is a tectonic plate, and they carry the continents.",
        "You may have heard that the Romans sowed the ground with salt.",
        "But that detail is a modern invention, and no ancient source mentions it.",
    ]

    terms = _terms(sentences)

    assert terms["tectonic plate"].definition == sentences[0].rstrip(".")
    assert "modern invention" not in terms  # "detail" names nothing said before


def test_a_name_said_with_the_is_a_term_when_its_own_sentence_describes_it() -> None:
    sentences = [
        "A board of ten men wrote the laws down, and the result was the Twelve Tables, the "
        "first written code of Roman law, set up in the Forum.",
        "The Twelve Tables dealt with debts, property and crimes.",
        "Children still learned the Twelve Tables by heart.",
        "Wegener was a German meteorologist, not a geologist, and Wegener was mocked.",
        "Wegener died in Greenland.",
    ]

    terms = _terms(sentences)

    assert terms["twelve tables"].definition == "the first written code of Roman law"
    assert "wegener" not in terms  # a person: never said with "the"


def test_a_name_set_off_after_its_description_at_the_end_is_named_by_it() -> None:
    sentences = [
        "Beside the consuls stood the most lasting institution of Rome, the Senate.",
        "The Senate controlled the treasury, and the Senate received ambassadors.",
        "The army walked out under a yoke of spears, the ultimate military disgrace.",
    ]

    terms = _terms(sentences)

    assert terms["senate"].definition == "the most lasting institution of Rome"
    assert "ultimate military disgrace" not in terms  # the second phrase describes the first


def test_a_kind_is_no_definition() -> None:
    sentences = [
        "The dandies are a volcanic arc, built where one plate dives beneath another.",
        "The dandies rise above the trench, and the dandies are young.",
        "The zungs are the dangerous ones, with sticky magma.",
        "The zungs erupt explosively, and the zungs kill thousands.",
    ]
    timed = timed_sentences(make_transcript(sentences))

    assert find_definition(timed, ("dandy",), introduced=True) is None
    assert find_definition(timed, ("zung",), introduced=True) is None


def test_a_word_no_list_knows_must_recur_three_times() -> None:
    twice = [
        "Geologists call the weak layer beneath the plates the sphenosphere.",
        "The sphenosphere is still solid rock that can slowly flow.",
    ]
    thrice = [*twice, "Plates glide over the sphenosphere like lids."]

    assert "sphenosphere" not in _terms(twice)  # more likely a mis-hearing
    assert "sphenosphere" in _terms(thrice)


def test_terms_never_defined_get_places_in_proportion_to_the_defined_ones() -> None:
    defined = [
        "Osmosis is the movement of water across a membrane.",
        "Diffusion is the spreading of particles from high to low concentration.",
    ]
    everyday = ["sea floor", "hot rock", "mountain range", "magnetic field", "ocean basin"]
    undefined = [
        f"Near the {a} we saw the {b}, and the {a} met the {b} again and again."
        for a, b in zip(everyday, everyday[1:] + everyday[:1], strict=True)
    ]
    timed = timed_sentences(make_transcript(defined + undefined + undefined))

    terms = [t.term for t in extract_key_terms(timed, 30)]

    assert terms[:2] == ["osmosis", "diffusion"]
    assert len(terms) == 2 + 4  # the floor of four places for undefined terms, not all five


def test_a_naming_may_give_an_ordinal_name() -> None:
    sentences = [
        "In 60 BC three men formed an informal private alliance to get what each wanted, and "
        "historians call it the first triumvirate.",
        "Later Octavian joined the second triumvirate.",
    ]

    terms = _terms(sentences)

    assert terms["first triumvirate"].definition == (
        "In 60 BC three men formed an informal private alliance to get what each wanted"
    )


def test_tell_you_explains_a_term_like_tells_you() -> None:
    sentences = [
        "Resistance times capacitance gives a time, and that time, the time constant, tell "
        "you how fast the capacitor charges.",
        "After one time constant the capacitor is mostly full.",
    ]

    terms = _terms(sentences)

    assert terms["time constant"].definition == "how fast the capacitor charges"


def test_a_misheard_copula_in_its_one_frame_still_defines() -> None:
    sentences = [
        "A divergent boundary in a place where two plates move apart.",
        "The electrons in a metal wire drift the other way.",
        "A divergent boundary can open up in the middle of a continent.",
        "The electrons in a battery carry the charge.",
    ]
    timed = timed_sentences(make_transcript(sentences))

    terms = _terms(sentences)

    assert terms["divergent boundary"].definition == "a place where two plates move apart"
    assert find_definition(timed, ("electron",)) is None


def test_a_noun_followed_by_a_verb_the_lecture_uses_is_a_clause() -> None:
    sentences = [
        "A capacitor charges slowly from a small battery.",
        "The capacitor charges until the voltage matches the battery.",
        "It doesn't charge instantly, and we can't charge it forever.",
        "Capacitance measures how much charge a capacitor stores for each volt.",
    ]

    terms = _terms(sentences)

    assert "capacitor charges" not in terms
    assert "capacitance" in terms


def test_a_short_recording_keeps_its_rare_words_said_once() -> None:
    # A phone recording of three sentences, the definition misheard: nothing can recur.
    heard = [
        "Photosynthesis convert site energy into chemical energy.",
        "Chlorophyll is marine pigment, atom sorbs sunlight in the leaves.",
        "The Calvin cycle uses carbon dioxide to build sugar.",
    ]
    terms = _terms(heard)
    assert {"photosynthesis", "chlorophyll"} <= set(terms)
    assert "energy" not in terms  # everyday words still need a definition
    # In a lecture of ordinary length a rare word said once is still no term.
    padding = [f"Plants in garden number {n} grow towards the light." for n in range(8)]
    assert "chlorophyll" not in _terms([*heard, *padding])
