"""Study-kit exports read back with real readers: Markdown, PDF (pypdf), Anki (sqlite3 and
Anki itself), Quizlet CSV (csv) and the zip of all formats."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pypdf
import pytest
import srt
import webvtt
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

from pegasus.exports import render_export
from pegasus.exports.anki import cloze_text, render_apkg, stable_id
from pegasus.exports.bundle import safe_stem
from pegasus.exports.csv_export import render_csv
from pegasus.exports.markdown import clock, render_markdown
from pegasus.exports.pdf import DEFAULT_FONT_DIRS, render_pdf, transliterate
from pegasus.studykit.schemas import (
    Chapter,
    Flashcard,
    KeyTerm,
    NoteBullet,
    NoteSection,
    QuizItem,
    Span,
    StudyKit,
    SummarySentence,
)
from pegasus.transcription.schemas import Segment, Transcript
from tests.readers import TIMESTAMP, read_markdown, timestamps

TITLE = "Photosynthesis: light & the Calvin cycle"
COURSE = "Biology 101 — Plants"
DASH = "\u2013"  # between the start and end of a time range

# (start, end, text): a six-minute lecture in three parts.
LINES = [
    (0.0, 9.5, "Today we look at how plants feed themselves."),
    (10.0, 24.0, "Photosynthesis is the process by which plants turn light into sugar."),
    (25.0, 41.0, "Chlorophyll is the green pigment that absorbs red and blue light."),
    (130.0, 148.0, "The light reactions happen in the thylakoid membranes."),
    (149.0, 166.5, "They split water, release oxygen, and make ATP and NADPH."),
    (270.0, 289.0, "The Calvin cycle is the second stage, where carbon dioxide is fixed."),
    (290.0, 305.0, "Rubisco is the enzyme that fixes carbon dioxide to RuBP."),
    (330.0, 352.0, "So, light energy ends up stored in the bonds of glucose."),
]


def lecture() -> Transcript:
    return Transcript(
        language="en",
        duration_seconds=360.0,
        segments=[Segment(start=a, end=b, text=text) for a, b, text in LINES],
    )


def span(i: int) -> Span:
    start, end, text = LINES[i]
    return Span(start=start, end=end, text=text)


def key_term(term: str, definition: str, line: int) -> KeyTerm:
    s = span(line)
    return KeyTerm(
        term=term,
        occurrences=2,
        score=1.0,
        first_start=s.start,
        first_end=s.end,
        context=s.text,
        definition=definition,
        source=s,
    )


def card(card_id: str, kind: str, front: str, back: str, line: int) -> Flashcard:
    assert kind in ("definition", "cloze")
    return Flashcard.model_validate(
        {"id": card_id, "kind": kind, "front": front, "back": back, "source": span(line)}
    )


def full_kit() -> StudyKit:
    return StudyKit(
        preset="full",
        summary=[
            SummarySentence(text=LINES[1][2], start=10.0, end=24.0),
            SummarySentence(text=LINES[5][2], start=270.0, end=289.0),
        ],
        key_terms=[
            key_term("photosynthesis", "the process by which plants turn light into sugar", 1),
            key_term("chlorophyll", "the green pigment that absorbs red and blue light", 2),
            key_term("Rubisco", "the enzyme that fixes carbon dioxide to RuBP", 6),
        ],
        chapters=[
            Chapter(index=0, title="Light and pigments", start=0.0, end=120.0),
            Chapter(index=1, title="The light reactions", start=120.0, end=260.0),
            Chapter(index=2, title="The Calvin cycle", start=260.0, end=360.0),
        ],
        notes=[
            NoteSection(
                chapter=0,
                heading="Light and pigments",
                bullets=[
                    NoteBullet(text="Plants turn light into sugar.", source=span(1)),
                    NoteBullet(text="Chlorophyll absorbs red and blue light.", source=span(2)),
                ],
            ),
            NoteSection(
                chapter=1,
                heading="The light reactions",
                bullets=[NoteBullet(text="Water is split; O2 is released.", source=span(4))],
            ),
            NoteSection(
                chapter=2,
                heading="The Calvin cycle",
                bullets=[NoteBullet(text="Rubisco fixes CO2.", source=span(6))],
            ),
        ],
        flashcards=[
            card(
                "card-photosynthesis",
                "definition",
                "photosynthesis",
                "the process by which plants turn light into sugar",
                1,
            ),
            card(
                "card-chlorophyll",
                "definition",
                "chlorophyll",
                "the green pigment that absorbs red and blue light",
                2,
            ),
            card(
                "card-rubisco",
                "definition",
                "Rubisco",
                "the enzyme that fixes carbon dioxide to RuBP",
                6,
            ),
            card(
                "cloze-thylakoid",
                "cloze",
                "The light reactions happen in the [...].",
                "thylakoid membranes",
                3,
            ),
            card(
                "cloze-calvin",
                "cloze",
                "The [...] is the second stage, where carbon dioxide is fixed.",
                "Calvin cycle",
                5,
            ),
        ],
        quiz=[
            QuizItem(
                id="quiz-pigment",
                question="Which pigment absorbs red and blue light?",
                options=["Rubisco", "Chlorophyll", "NADPH", "Glucose"],
                answer_index=1,
                explanation="Chlorophyll is the green pigment that absorbs the light.",
                source=span(2),
            ),
            QuizItem(
                id="quiz-enzyme",
                question="Which enzyme fixes carbon dioxide?",
                options=["Chlorophyll", "ATP", "Rubisco", "Thylakoid"],
                answer_index=2,
                explanation="Rubisco fixes carbon dioxide to RuBP in the Calvin cycle.",
                source=span(6),
            ),
        ],
    )


def empty_kit() -> StudyKit:
    return StudyKit(preset="full", summary=[], key_terms=[])


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_has_every_section_in_order() -> None:
    kit = full_kit()

    outline = read_markdown(render_markdown(TITLE, lecture(), kit))

    assert outline.headings == [
        (1, TITLE),
        (2, "Summary"),
        (2, "Chapters"),
        (2, "Notes"),
        *[(3, f"{n.heading} [{clock(kit.chapters[n.chapter].start)}]") for n in kit.notes],
        (2, "Key terms"),
        (2, "Flashcards"),
        (2, "Quiz"),
        (2, "Answer key"),
        (2, "Transcript"),
    ]
    assert outline.links == [], "learner text must never turn into links"
    chapters = outline.section("Chapters").items
    assert [(i.number, TIMESTAMP.sub("", i.text).strip()) for i in chapters] == [
        (c.index + 1, c.title) for c in kit.chapters
    ]
    assert [timestamps(i.text) for i in chapters] == [
        [(int(c.start), int(c.end))] for c in kit.chapters
    ]
    summary = outline.section("Summary").items
    assert [(i.text.split(" [")[0], timestamps(i.text)) for i in summary] == [
        (s.text, [(int(s.start), None)]) for s in kit.summary
    ]
    transcript = outline.section("Transcript").paragraphs
    assert [(timestamps(p), p.split("] ", 1)[1]) for p in transcript] == [
        ([(int(start), None)], text) for start, _, text in LINES
    ]


def test_markdown_notes_have_a_heading_per_chapter_with_timed_bullets() -> None:
    kit = full_kit()

    outline = read_markdown(render_markdown(TITLE, lecture(), kit))

    for note in kit.notes:
        section = outline.section(note.heading)
        assert section.level == 3
        assert timestamps(section.title) == [(int(kit.chapters[note.chapter].start), None)]
        assert [(i.number, i.text.split(" [")[0], timestamps(i.text)) for i in section.items] == [
            (None, b.text, [(int(b.source.start), None)]) for b in note.bullets
        ]


def test_markdown_key_terms_give_the_definition_and_when_it_is_explained() -> None:
    kit = full_kit()

    items = read_markdown(render_markdown(TITLE, lecture(), kit)).section("Key terms").items

    assert [i.strong for i in items] == [[t.term] for t in kit.key_terms]
    for item, term in zip(items, kit.key_terms, strict=True):
        assert timestamps(item.text) == [(int(term.first_start), None)]
        assert item.text.endswith(f"\u2014 {term.definition}")


def test_markdown_flashcards_and_quiz_with_lettered_options_and_answer_key() -> None:
    kit = full_kit()

    outline = read_markdown(render_markdown(TITLE, lecture(), kit))

    cards = outline.section("Flashcards").items
    assert [(i.number, i.text) for i in cards] == [
        (n, f"Q: {c.front}") for n, c in enumerate(kit.flashcards, 1)
    ]
    for item, flashcard in zip(cards, kit.flashcards, strict=True):
        (answer,) = item.children
        assert answer.strong == ["A:"]
        assert answer.text.split(" [")[0] == f"A: {flashcard.back}"
        assert timestamps(answer.text) == [(int(flashcard.source.start), int(flashcard.source.end))]
    quiz = outline.section("Quiz").items
    assert [(i.number, i.text.split(" [")[0]) for i in quiz] == [
        (n, q.question) for n, q in enumerate(kit.quiz, 1)
    ]
    for item, question in zip(quiz, kit.quiz, strict=True):
        assert timestamps(item.text) == [(int(question.source.start), None)]
        assert [o.text for o in item.children] == [
            f"{letter}. {option}" for letter, option in zip("ABCD", question.options, strict=True)
        ]
        # The answer is not given away next to the question.
        assert question.explanation not in " ".join(o.text for o in item.children)
    answers = outline.section("Answer key").items
    assert [(i.number, i.text) for i in answers] == [
        (
            n,
            f"{'ABCD'[q.answer_index]} ({q.options[q.answer_index]}) \u2014 {q.explanation}",
        )
        for n, q in enumerate(kit.quiz, 1)
    ]


def test_markdown_keeps_answers_under_their_question_past_the_ninth() -> None:
    # "10. " is one character wider than "9. ": nested answers and options must follow it.
    base = full_kit()
    cards = [
        base.flashcards[0].model_copy(update={"id": f"c{n}", "front": f"term {n}"})
        for n in range(1, 13)
    ]
    questions = [
        base.quiz[0].model_copy(update={"id": f"q{n}", "question": f"Question {n}?"})
        for n in range(1, 12)
    ]
    kit = base.model_copy(update={"flashcards": cards, "quiz": questions})

    outline = read_markdown(render_markdown(TITLE, lecture(), kit))

    items = outline.section("Flashcards").items
    assert [(i.number, i.text) for i in items] == [(n, f"Q: term {n}") for n in range(1, 13)]
    assert all([a.strong for a in i.children] == [["A:"]] for i in items)
    quiz = outline.section("Quiz").items
    assert [i.number for i in quiz] == list(range(1, 12))
    assert all(len(i.children) == 4 for i in quiz)


def test_markdown_leaves_out_the_sections_a_kit_does_not_have() -> None:
    kit = empty_kit().model_copy(update={"flashcards": full_kit().flashcards[:1]})

    outline = read_markdown(render_markdown(TITLE, lecture(), kit))

    assert [title for level, title in outline.headings if level == 2] == [
        "Flashcards",
        "Transcript",
    ]
    assert len(outline.section("Flashcards").items) == 1


# --- PDF -----------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_pdf_text_has_title_kit_and_transcript() -> None:
    data = render_export("pdf", title=TITLE, transcript=lecture(), kit=full_kit())

    assert data.startswith(b"%PDF-")
    text = one_line(pdf_text(data))
    assert TITLE in text
    for expected in (
        "Summary",
        f"1. Light and pigments [00:00{DASH}02:00]",
        "Notes",
        "Chlorophyll absorbs red and blue light. [00:25]",
        "Rubisco [04:50] — the enzyme that fixes carbon dioxide to RuBP",
        "Q: photosynthesis",
        f"A: thylakoid membranes [02:10{DASH}02:28]",
        "Which enzyme fixes carbon dioxide?",
        "B. Chlorophyll",
        "Answer key",
        "2. C (Rubisco) — Rubisco fixes carbon dioxide to RuBP in the Calvin cycle.",
        "[05:30] So, light energy ends up stored in the bonds of glucose.",
    ):
        assert expected in text
    assert text.index("Answer key") > text.index("Which enzyme fixes carbon dioxide?")


def test_pdf_metadata_and_outline_name_the_sections() -> None:
    reader = pypdf.PdfReader(
        io.BytesIO(render_export("pdf", title=TITLE, transcript=lecture(), kit=full_kit()))
    )

    assert reader.metadata is not None
    assert reader.metadata.title == TITLE
    top_level = [item.title for item in reader.outline if not isinstance(item, list)]
    assert top_level == [
        "Summary",
        "Chapters",
        "Notes",
        "Key terms",
        "Flashcards",
        "Quiz",
        "Answer key",
        "Transcript",
    ]


@pytest.mark.parametrize("kit", [None, empty_kit()], ids=["no-kit", "empty-kit"])
def test_pdf_without_a_kit_or_transcript_is_still_a_document(kit: StudyKit | None) -> None:
    empty = Transcript(language="en", duration_seconds=0.0)

    text = pdf_text(render_export("pdf", title="Nothing yet", transcript=empty, kit=kit))

    assert "Nothing yet" in text
    assert "Duration 00:00" in text
    assert "Quiz" not in text
    assert "Transcript" not in text


def test_long_lecture_pdf_runs_over_pages_and_keeps_every_line() -> None:
    segments = [
        Segment(start=i * 10.0, end=i * 10.0 + 9, text=f"Sentence number {i} of the lecture.")
        for i in range(300)
    ]
    transcript = Transcript(language="en", duration_seconds=3000.0, segments=segments)

    data = render_pdf("Long", transcript, None)

    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) > 3
    text = one_line(pdf_text(data))
    assert "[49:50] Sentence number 299 of the lecture." in text
    assert all(f"Sentence number {i} of" in text for i in range(300))


@pytest.mark.skipif(
    not any((d / "DejaVuSans.ttf").is_file() for d in DEFAULT_FONT_DIRS),
    reason="DejaVu Sans (fonts-dejavu-core) is not installed",
)
def test_pdf_with_dejavu_keeps_greek_and_marks_what_no_font_has() -> None:
    transcript = Transcript(
        language="el",
        duration_seconds=5.0,
        segments=[Segment(start=0.0, end=5.0, text="η φωτοσύνθεση — 光合作用 in Chinese.")],
    )

    text = pdf_text(render_pdf("Φωτοσύνθεση", transcript, None))

    assert "Φωτοσύνθεση" in text
    assert "η φωτοσύνθεση — ???? in Chinese." in text


def test_pdf_with_core_fonts_transliterates_instead_of_failing() -> None:
    transcript = Transcript(
        language="de",
        duration_seconds=5.0,
        segments=[Segment(start=0.0, end=5.0, text="Für “alle” \u2212 Ελλάδα, Łódź, ﬁne.")],
    )

    text = pdf_text(render_pdf("Café Ω", transcript, full_kit(), font_dirs=()))

    assert "Café ?" in text
    assert "Für “alle” - ??????, Lódz, fine." in text
    assert "Which enzyme fixes carbon dioxide?" in text


def test_transliterate_keeps_what_the_font_shows() -> None:
    def ascii_only(char: str) -> bool:
        return char.isascii()

    assert transliterate("naïve café \u2212 東", ascii_only) == "naive cafe - ?"


# --- Anki ----------------------------------------------------------------------------------


@contextmanager
def collection_of(apkg: bytes) -> Iterator[sqlite3.Connection]:
    """The package's collection opened with sqlite3, from memory."""
    with zipfile.ZipFile(io.BytesIO(apkg)) as archive:
        assert "collection.anki2" in archive.namelist()
        data = archive.read("collection.anki2")
        assert json.loads(archive.read("media")) == {}
    with closing(sqlite3.connect(":memory:")) as connection:
        connection.deserialize(data)
        yield connection


def notes_of(apkg: bytes) -> list[tuple[str, str, list[str], str]]:
    """(guid, note type name, fields, tags) of every note, in insertion order."""
    with collection_of(apkg) as db:
        (models_json,) = db.execute("SELECT models FROM col").fetchone()
        models = {int(k): m["name"] for k, m in json.loads(models_json).items()}
        rows = db.execute("SELECT guid, mid, flds, tags FROM notes ORDER BY id").fetchall()
    return [(guid, models[mid], flds.split("\x1f"), tags.strip()) for guid, mid, flds, tags in rows]


def test_apkg_has_a_note_per_flashcard_and_quiz_item_in_the_course_deck() -> None:
    kit = full_kit()

    apkg = render_export(
        "apkg", title=TITLE, transcript=lecture(), kit=kit, deck_name=COURSE, lecture_id="42"
    )

    with collection_of(apkg) as db:
        (count,) = db.execute("SELECT count(*) FROM notes").fetchone()
        assert count == len(kit.flashcards) + len(kit.quiz) == 7
        (decks_json,) = db.execute("SELECT decks FROM col").fetchone()
        decks = json.loads(decks_json)
        assert decks[str(stable_id(f"pegasus.deck:{COURSE}"))]["name"] == COURSE
        card_decks = db.execute("SELECT DISTINCT did FROM cards").fetchall()
        assert card_decks == [(stable_id(f"pegasus.deck:{COURSE}"),)]
        (cards,) = db.execute("SELECT count(*) FROM cards").fetchone()
        assert cards == 7


def test_apkg_fields_hold_the_card_its_source_and_source_time() -> None:
    kit = full_kit()

    notes = notes_of(render_apkg(kit, deck_name=COURSE, note_scope="42"))

    _, model, fields, tags = notes[0]
    assert model == "Pegasus Basic"
    assert fields == [
        "photosynthesis",
        "the process by which plants turn light into sugar",
        LINES[1][2],
        f"00:10{DASH}00:24",
    ]
    assert tags == "pegasus"
    _, model, fields, _ = notes[3]
    assert model == "Pegasus Cloze"
    assert fields == [
        "The light reactions happen in the {{c1::thylakoid membranes}}.",
        "thylakoid membranes",
        LINES[3][2],
        f"02:10{DASH}02:28",
    ]
    _, model, fields, _ = notes[5]
    assert model == "Pegasus Basic"
    assert fields[0].startswith("Which pigment absorbs red and blue light?<br><ol")
    assert "<li>NADPH</li>" in fields[0]
    assert fields[1].startswith("<b>B. Chlorophyll</b>")
    assert fields[3] == f"00:25{DASH}00:41"
    assert [n[2][3] for n in notes] == [
        f"00:10{DASH}00:24",
        f"00:25{DASH}00:41",
        f"04:50{DASH}05:05",
        f"02:10{DASH}02:28",
        f"04:30{DASH}04:49",
        f"00:25{DASH}00:41",
        f"04:50{DASH}05:05",
    ]


def test_apkg_ids_are_stable_and_scoped_to_the_lecture() -> None:
    kit = full_kit()

    first = notes_of(render_apkg(kit, deck_name=COURSE, note_scope="42", timestamp=1.0e9))
    again = notes_of(render_apkg(kit, deck_name=COURSE, note_scope="42", timestamp=2.0e9))
    other_lecture = notes_of(render_apkg(kit, deck_name=COURSE, note_scope="43"))

    guids = [n[0] for n in first]
    assert len(set(guids)) == len(guids)
    assert guids == [n[0] for n in again]
    assert not set(guids) & {n[0] for n in other_lecture}
    assert stable_id("pegasus.deck:A") == stable_id("pegasus.deck:A")
    assert stable_id("pegasus.deck:A") != stable_id("pegasus.deck:B")
    assert 1 << 30 <= stable_id("pegasus.deck:A") < 1 << 31


def test_apkg_escapes_learner_text_as_html() -> None:
    kit = empty_kit().model_copy(
        update={"flashcards": [card("c", "definition", "a <b> & c", "x < y", 0)]}
    )

    [(_, _, fields, _)] = notes_of(render_apkg(kit, deck_name="D", note_scope="s"))

    assert fields[:2] == ["a &lt;b&gt; &amp; c", "x &lt; y"]


@pytest.mark.parametrize("kit", [None, empty_kit()], ids=["no-kit", "empty-kit"])
def test_apkg_without_cards_is_an_empty_deck(kit: StudyKit | None) -> None:
    apkg = render_export("apkg", title="Nothing yet", transcript=lecture(), kit=kit)

    with collection_of(apkg) as db:
        assert db.execute("SELECT count(*) FROM notes").fetchone() == (0,)
        (decks_json,) = db.execute("SELECT decks FROM col").fetchone()
        assert "Nothing yet" in [d["name"] for d in json.loads(decks_json).values()]


@pytest.mark.parametrize(
    ("front", "back", "expected"),
    [
        ("The [...] is fixed.", "Calvin cycle", "The {{c1::Calvin cycle}} is fixed."),
        ("The […] is fixed.", "Calvin cycle", "The {{c1::Calvin cycle}} is fixed."),
        ("The _____ is fixed.", "Calvin cycle", "The {{c1::Calvin cycle}} is fixed."),
        ("The Calvin cycle is fixed.", "calvin cycle", "The {{c1::Calvin cycle}} is fixed."),
        ("What is fixed?", "CO2", "What is fixed?<br>{{c1::CO2}}"),
        ("Already {{c1::done}}.", "done", "Already {{c1::done}}."),
        ("A [...] & b", "x}}y", "A {{c1::x} }y}} &amp; b"),
    ],
)
def test_cloze_text(front: str, back: str, expected: str) -> None:
    assert cloze_text(card("c", "cloze", front, back, 0)) == expected


def import_into_anki(collection: Collection, apkg: bytes, path: Path) -> tuple[int, int]:
    """Anki's own importer on ``apkg``: (new notes, updated notes)."""
    path.write_bytes(apkg)
    response = collection.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=str(path),
            options=ImportAnkiPackageOptions(merge_notetypes=True, with_scheduling=False),
        )
    )
    return len(response.log.new), len(response.log.updated)


def test_anki_imports_the_deck_and_a_reimport_updates_instead_of_duplicating(
    tmp_path: Path,
) -> None:
    kit = full_kit()
    edited = kit.model_copy(
        update={
            "flashcards": [
                kit.flashcards[0].model_copy(update={"back": "how plants make sugar from light"}),
                *kit.flashcards[1:],
            ]
        }
    )
    collection = Collection(str(tmp_path / "collection.anki2"))
    try:
        first = render_apkg(kit, deck_name=COURSE, note_scope="42", timestamp=1.7e9)
        assert import_into_anki(collection, first, tmp_path / "a.apkg") == (7, 0)
        later = render_apkg(edited, deck_name=COURSE, note_scope="42", timestamp=1.7e9 + 60)
        # Same GUIDs, newer notes: Anki updates all seven and adds none.
        assert import_into_anki(collection, later, tmp_path / "b.apkg") == (0, 7)

        assert collection.note_count() == 7
        assert collection.card_count() == 7
        assert COURSE in [d.name for d in collection.decks.all_names_and_ids()]
        [note_id] = collection.find_notes('"front:photosynthesis"')
        assert collection.get_note(note_id)["Back"] == "how plants make sugar from light"
        [cloze_id] = collection.find_notes('"note:Pegasus Cloze" "Text:*thylakoid*"')
        [cloze_card] = collection.get_note(cloze_id).cards()
        assert "thylakoid membranes" in cloze_card.answer()
        assert "thylakoid membranes" not in cloze_card.question()
    finally:
        collection.close()


# --- CSV -----------------------------------------------------------------------------------


def test_csv_has_a_term_definition_row_per_flashcard() -> None:
    kit = full_kit()

    data = render_export("csv", title=TITLE, transcript=lecture(), kit=kit)

    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows == [[c.front, c.back] for c in kit.flashcards]
    assert rows[3] == ["The light reactions happen in the [...].", "thylakoid membranes"]


def test_csv_quotes_commas_quotes_and_keeps_unicode_on_one_line() -> None:
    kit = empty_kit().model_copy(
        update={
            "flashcards": [
                card("a", "definition", 'the "dark" reactions, or', "Calvin\ncycle", 0),
                card("b", "definition", "Füße", "ATP, NADPH — 能量", 0),
            ]
        }
    )

    text = render_csv(kit)

    assert text.splitlines() == [
        '"the ""dark"" reactions, or",Calvin cycle',
        'Füße,"ATP, NADPH — 能量"',
    ]
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ['the "dark" reactions, or', "Calvin cycle"],
        ["Füße", "ATP, NADPH — 能量"],
    ]


@pytest.mark.parametrize("kit", [None, empty_kit()], ids=["no-kit", "empty-kit"])
def test_csv_without_cards_is_empty(kit: StudyKit | None) -> None:
    assert render_export("csv", title="t", transcript=lecture(), kit=kit) == b""


# --- zip -----------------------------------------------------------------------------------


def test_zip_holds_every_other_format_and_each_reads_back() -> None:
    kit = full_kit()

    data = render_export("zip", title=TITLE, transcript=lecture(), kit=kit, deck_name=COURSE)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        members = {name: archive.read(name) for name in archive.namelist()}
    stem = "Photosynthesis_light_the_Calvin_cycle"
    # Written out: what a learner who downloads "everything" should find, in this order.
    assert list(members) == [
        f"{stem}.{ext}" for ext in ("md", "json", "srt", "vtt", "pdf", "apkg", "csv")
    ]
    assert all(members.values())
    document = json.loads(members[f"{stem}.json"])
    assert document["title"] == TITLE
    assert StudyKit.model_validate(document["study_kit"]) == kit
    outline = read_markdown(members[f"{stem}.md"].decode("utf-8"))
    assert outline.headings[0] == (1, TITLE)
    assert outline.section("Answer key").items
    spoken = " ".join(text for _, _, text in LINES)
    cues = srt.parse(members[f"{stem}.srt"].decode("utf-8"))
    assert one_line(" ".join(c.content for c in cues)) == spoken
    captions = webvtt.from_buffer(io.StringIO(members[f"{stem}.vtt"].decode("utf-8"))).captions
    assert one_line(" ".join(c.text for c in captions)) == spoken
    assert "Answer key" in pdf_text(members[f"{stem}.pdf"])
    assert len(notes_of(members[f"{stem}.apkg"])) == 7
    with collection_of(members[f"{stem}.apkg"]) as db:
        (decks_json,) = db.execute("SELECT decks FROM col").fetchone()
        assert COURSE in [d["name"] for d in json.loads(decks_json).values()]
    assert len(list(csv.reader(io.StringIO(members[f"{stem}.csv"].decode("utf-8"))))) == 5


@pytest.mark.parametrize("kit", [None, empty_kit()], ids=["no-kit", "empty-kit"])
def test_zip_without_a_kit_still_holds_readable_files(kit: StudyKit | None) -> None:
    empty = Transcript(language="en", duration_seconds=0.0)

    data = render_export("zip", title="", transcript=empty, kit=kit)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names == [
            f"lecture.{ext}" for ext in ("md", "json", "srt", "vtt", "pdf", "apkg", "csv")
        ]
        assert json.loads(archive.read("lecture.json"))["study_kit"] == (
            None if kit is None else kit.model_dump(mode="json")
        )
        assert archive.read("lecture.vtt") == b"WEBVTT\n"
        assert "Untitled lecture" in pdf_text(archive.read("lecture.pdf"))
        assert notes_of(archive.read("lecture.apkg")) == []
        assert archive.read("lecture.csv") == b""


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        ("Photosynthesis 101", "Photosynthesis_101"),
        ("Biologie für alle: Teil 2", "Biologie_fur_alle_Teil_2"),
        ("../../etc/passwd", "etc_passwd"),
        ("光合作用", "lecture"),
        ("  ", "lecture"),
        ("a-b_c", "a-b_c"),
        ("x" * 200, "x" * 80),
    ],
)
def test_safe_stem(title: str, stem: str) -> None:
    assert safe_stem(title) == stem
