"""The PII redactor: each kind is found where it is personal data and kept where it is an
ordinary number or word; items over several timed words become one word; counts per kind."""

from __future__ import annotations

import pytest

from pegasus.transcription.pii import (
    ALL_KINDS,
    PiiKind,
    RedactionPolicy,
    Redactor,
    find_spans,
)
from pegasus.transcription.schemas import Segment, Transcript, Word
from tests.transcripts import make_transcript

ROSTER = ("Jane Doe", "Mark Brown", "José García", "Wei Li", "Aoife O'Brien", "María de la Cruz")
EVERYTHING = RedactionPolicy(roster_names=ROSTER)


def redact(text: str, policy: RedactionPolicy = EVERYTHING) -> str:
    return Redactor(policy).text(text)[0]


def only(*kinds: PiiKind) -> RedactionPolicy:
    return RedactionPolicy(kinds=frozenset(kinds), roster_names=ROSTER)


# --- e-mail ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to jane.doe@example.com for notes.", "Write to [email] for notes."),
        ("JANE_DOE+bio@Uni-Example.ac.uk.", "[email]."),
        ("mail: j.doe @ example.org", "mail: [email]"),
        ("my email is jane dot doe at example dot com okay", "my email is [email] okay"),
        ("email me at jdoe at gmail dot com", "email me at [email]"),
        ("it is jane_doe42 at uni dot edu dot au", "it is [email]"),
        ("write to j.doe at example.com", "write to [email]"),
    ],
)
def test_email_addresses_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Look at google dot com for the details.",  # a website, no address
        "The crash came at the dot com boom.",
        "We meet at noon dot com is not a thing.",
        "Dots at the end of the line.",
        "the @ sign alone, or @handle, is no address",
        "The ratio is 3 at 5 dot 2.",
    ],
)
def test_ordinary_phrases_with_at_and_dot_are_kept(text: str) -> None:
    assert redact(text) == text


# --- phone numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "555-123-4567",
        "(555) 123-4567",
        "555.123.4567",
        "555 1234",
        "+1 555 123 4567",
        "+1 (555) 123-4567",
        "1-800-555-1234",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+49 30 12345678",
        "06 12 34 56 78",
        "+15551234567",
    ],
)
def test_phone_numbers_are_replaced(number: str) -> None:
    assert redact(f"Call {number} today.") == "Call [phone] today."


@pytest.mark.parametrize(
    "text",
    [
        "In 2024 we read chapter 42 of the book.",
        "Pi is 3.14, or 3.14159265 to more places.",
        "The class starts at 10:30 and ends at 11:45:30.",
        "It happened on 2024-01-15, or 15.01.2024, or 01/15/2024.",
        "Between 1990 2000 and 2010.",
        "Read pages 2345-2400 tonight.",
        "Count 10 20 30 40 out loud.",
        "A million is 1.000.000 or 1 000 000 or 1,000,000.",
        "It grew by 12.5% to 1,234,567 people.",
        "Version 2.7.15 of the tool, and IP 192.168.100.200.",
        "The 1990s and 42nd street.",
        "Six is 1 2 3 4 5 6, no phone.",
    ],
)
def test_ordinary_numbers_are_kept(text: str) -> None:
    assert redact(text) == text


# --- ID-like numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My student number is 20231234.", "My student number is [id]."),
        ("ID 123456 please", "ID [id] please"),
        ("My ID is A1234567.", "My ID is [id]."),
        ("Codes AB-123456C and 12345678Z.", "Codes [id] and [id]."),
        ("SSN 123-45-6789.", "SSN [id]."),
        ("s1234567's grade", "[id]'s grade"),
    ],
)
def test_id_numbers_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Water is H2O and vitamin B12 helps; the RTX4090 is fast.",
        "COVID-19 spread in 2020; files are mp3 or x86.",
        "It cost $1500000 or €2500000.",
        "The value is 1234567.89 or 0.1234567.",
        "Growth of 1234567% is absurd.",
        "Chapter 42, section 12345.",  # five digits: not an ID
    ],
)
def test_ordinary_codes_and_amounts_are_kept(text: str) -> None:
    assert redact(text) == text


def test_unbroken_digits_are_an_id_and_grouped_digits_a_phone() -> None:
    assert [s.kind for s in find_spans("5551234567 and 555 123 4567", EVERYTHING)] == [
        PiiKind.ID_NUMBER,
        PiiKind.PHONE,
    ]


# --- roster names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jane Doe asked a question.", "[name] asked a question."),
        ("jane doe and JANE DOE", "[name] and [name]"),
        ("Jane's answer, then Doe's.", "[name]'s answer, then [name]'s."),
        ("As Jane said,", "As [name] said,"),
        ("Jose Garcia and García", "[name] and [name]"),
        ("wei li said, and Li agreed", "[name] said, and [name] agreed"),
        ("O'Brien and O\u2019Brien\u2019s idea", "[name] and [name]\u2019s idea"),
        ("Jane-Doe wrote", "[name] wrote"),
        ("María de la Cruz came; Cruz left.", "[name] came; [name] left."),
        ("Mark asked. Brown agreed.", "[name] asked. [name] agreed."),
    ],
)
def test_roster_names_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Newton's second law and Einstein's relativity.",  # not on the roster
        "mark the answer, then brown the butter.",  # ordinary words, not capitalized
        "Janet and Does and Doesn't and Markus.",  # longer words that start like a name
        "Come de la part; la de da.",  # particles are never matched alone
        "Janes and Doey are other names.",
    ],
)
def test_words_that_are_not_roster_names_are_kept(text: str) -> None:
    assert redact(text) == text


def test_a_kind_that_is_kept_stays_whole() -> None:
    # Addresses and phone numbers kept by the policy are not cut up by the other kinds.
    assert redact("jane.doe@example.com", only(PiiKind.ROSTER_NAME)) == "jane.doe@example.com"
    assert redact("Call 030 12345678.", only(PiiKind.ID_NUMBER)) == "Call 030 12345678."
    assert redact("Call 030 12345678.", only(PiiKind.PHONE)) == "Call [phone]."


def test_no_roster_redacts_no_names() -> None:
    assert redact("Jane Doe asked.", RedactionPolicy()) == "Jane Doe asked."


# --- the policy ----------------------------------------------------------------------------


def test_the_default_policy_redacts_every_kind() -> None:
    assert RedactionPolicy().kinds == ALL_KINDS == frozenset(PiiKind)


def test_a_kind_turned_off_is_kept_and_the_others_are_not() -> None:
    text = "Jane Doe, office@example.com, 555-123-4567, A1234567"
    assert redact(text, only(PiiKind.PHONE, PiiKind.ID_NUMBER, PiiKind.ROSTER_NAME)) == (
        "[name], office@example.com, [phone], [id]"
    )
    assert redact(text, only(PiiKind.EMAIL, PiiKind.ID_NUMBER, PiiKind.ROSTER_NAME)) == (
        "[name], [email], 555-123-4567, [id]"
    )
    assert redact(text, only(PiiKind.EMAIL, PiiKind.PHONE, PiiKind.ROSTER_NAME)) == (
        "[name], [email], [phone], A1234567"
    )
    assert redact(text, only(PiiKind.EMAIL, PiiKind.PHONE, PiiKind.ID_NUMBER)) == (
        "Jane Doe, [email], [phone], [id]"
    )
    assert redact(text, RedactionPolicy(kinds=frozenset(), roster_names=ROSTER)) == text


def test_a_stored_policy_ignores_unknown_kinds_and_cleans_the_roster() -> None:
    policy = RedactionPolicy.from_stored(
        ["email", "nonsense", "roster_name"], ["  Jane   Doe ", "jane doe", "", "Wei Li"]
    )
    assert policy.kinds == {PiiKind.EMAIL, PiiKind.ROSTER_NAME}
    assert policy.roster_names == ("Jane Doe", "Wei Li")


# --- transcripts: words and counts ---------------------------------------------------------

PHRASE = "Ask Jane Doe's group, or mail jane dot doe at example dot com, or call (555) 123-4567."


@pytest.mark.parametrize("leading_space", [True, False], ids=["whisper", "bare"])
def test_items_over_several_words_become_one_timed_word(leading_space: bool) -> None:
    transcript = make_transcript([PHRASE], leading_space=leading_space)
    words = transcript.segments[0].words
    space = " " if leading_space else ""

    result = Redactor(EVERYTHING).transcript(transcript)

    segment = result.transcript.segments[0]
    assert segment.text == " Ask [name]'s group, or mail [email], or call [phone]."
    expected = segment.text.split()
    assert [w.word for w in segment.words] == [f"{space}{w}" for w in expected]
    by_text = {w.word.strip(): w for w in segment.words}
    # "Jane Doe's": from "Jane" (word 1) to "Doe's" (word 2)
    assert (by_text["[name]'s"].start, by_text["[name]'s"].end) == (words[1].start, words[2].end)
    # "jane dot doe at example dot com," is words 6..12
    assert (by_text["[email],"].start, by_text["[email],"].end) == (
        words[6].start,
        words[12].end,
    )
    # "(555) 123-4567." is words 15..16
    assert (by_text["[phone]."].start, by_text["[phone]."].end) == (
        words[15].start,
        words[16].end,
    )
    # Every other word is unchanged, times included.
    kept = [w for w in segment.words if "[" not in w.word]
    assert kept == [w for i, w in enumerate(words) if i not in {1, 2, *range(6, 13), 15, 16}]


def test_a_word_that_holds_a_whole_item_keeps_its_punctuation_and_times() -> None:
    segment = Segment(
        start=0.0,
        end=2.0,
        text=" Mail jane@example.com.",
        words=[
            Word(start=0.0, end=0.5, word=" Mail"),
            Word(start=0.6, end=2.0, word=" jane@example.com."),
        ],
    )
    result = Redactor(EVERYTHING).transcript(
        Transcript(language="en", duration_seconds=2.0, segments=[segment])
    )
    assert result.transcript.segments[0].words == [
        Word(start=0.0, end=0.5, word=" Mail"),
        Word(start=0.6, end=2.0, word=" [email]."),
    ]


def test_counts_per_kind_and_nothing_else_changes() -> None:
    transcript = make_transcript(
        [
            "Good morning, Jane Doe and Mark.",
            "Photosynthesis turns light into sugar in 2024.",
            "Call 555-123-4567 or 020 7946 0958, id A1234567, mail jdoe@example.com.",
        ],
        leading_space=True,
    )
    result = Redactor(EVERYTHING).transcript(transcript)
    assert dict(result.counts.by_kind) == {
        "email": 1,
        "phone": 2,
        "id_number": 1,
        "roster_name": 2,
    }
    assert result.counts.total == 6
    out = result.transcript
    assert out.segments[1] == transcript.segments[1]  # nothing personal: untouched
    assert (out.language, out.duration_seconds) == (
        transcript.language,
        transcript.duration_seconds,
    )
    assert [(s.start, s.end) for s in out.segments] == [
        (s.start, s.end) for s in transcript.segments
    ]
    stored = out.model_dump_json()
    assert "Jane" not in stored
    assert "4567" not in stored


def test_a_transcript_without_personal_data_counts_zero_of_each_kind() -> None:
    transcript = make_transcript(["Photosynthesis in 2024, chapter 42."])
    result = Redactor(EVERYTHING).transcript(transcript)
    assert result.transcript == transcript
    assert dict(result.counts.by_kind) == dict.fromkeys(
        ("email", "phone", "id_number", "roster_name"), 0
    )
