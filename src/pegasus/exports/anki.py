"""The Anki export: a ``.apkg`` deck of the kit's flashcards and quiz items.

Deck, note type and note ids are derived from names, never random, so importing a lecture's
deck again updates the notes already in Anki instead of adding copies.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import re
import sqlite3
import time
import zipfile
from typing import Any

import genanki

from pegasus.exports.markdown import OPTION_LETTERS, time_range
from pegasus.studykit.schemas import Flashcard, QuizItem, Span, StudyKit

#: A gap in a cloze card's front: ``[...]``, ``[…]`` or a run of underscores.
_GAP = re.compile(r"\[\s*(?:\.\.\.|…)\s*\]|_{3,}")
_CLOZE = re.compile(r"\{\{c\d+::")

_CSS = """
.card { font-family: sans-serif; font-size: 20px; text-align: center; color: black; }
.cloze { font-weight: bold; color: #1565c0; }
.source { margin-top: 1.5em; font-size: 14px; color: #666; font-style: italic; }
.time { font-style: normal; white-space: nowrap; }
ol.options { display: inline-block; text-align: left; }
"""
_SOURCE = '<div class="source">“{{Source}}” <span class="time">{{Time}}</span></div>'


def stable_id(name: str) -> int:
    """An Anki id for ``name``: the same every run, in the range genanki recommends."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (1 << 30) + int.from_bytes(digest[:8], "big") % (1 << 30)


def _basic_model() -> Any:
    return genanki.Model(
        stable_id("pegasus.note-type.basic.v1"),
        "Pegasus Basic",
        fields=[{"name": "Front"}, {"name": "Back"}, {"name": "Source"}, {"name": "Time"}],
        templates=[
            {
                "name": "Card 1",
                "qfmt": "{{Front}}",
                "afmt": '{{FrontSide}}<hr id="answer">{{Back}}' + _SOURCE,
            }
        ],
        css=_CSS,
    )


def _cloze_model() -> Any:
    return genanki.Model(
        stable_id("pegasus.note-type.cloze.v1"),
        "Pegasus Cloze",
        fields=[{"name": "Text"}, {"name": "Back"}, {"name": "Source"}, {"name": "Time"}],
        templates=[
            {
                "name": "Cloze",
                "qfmt": "{{cloze:Text}}",
                "afmt": "{{cloze:Text}}<br>{{Back}}" + _SOURCE,
            }
        ],
        css=_CSS,
        model_type=genanki.Model.CLOZE,
    )


def render_apkg(
    kit: StudyKit | None,
    *,
    deck_name: str,
    note_scope: str,
    tags: tuple[str, ...] = ("pegasus",),
    timestamp: float | None = None,
) -> bytes:
    """An Anki package with one deck, ``deck_name``, holding a note per flashcard (definition
    cards as Front/Back, cloze cards as Cloze) and a Front/Back note per quiz item.

    Each note's GUID comes from ``note_scope`` (which lecture) and the item's id, so a later
    export of the same lecture updates its notes. Fields are HTML; learner text is escaped.
    ``timestamp`` (seconds since the epoch, default now) dates the notes: Anki keeps the newer.
    """
    deck = genanki.Deck(stable_id(f"pegasus.deck:{deck_name}"), deck_name)
    basic, cloze = _basic_model(), _cloze_model()
    tag_list = [tag.replace(" ", "_") for tag in tags if tag.strip()]
    items: list[Flashcard | QuizItem] = []
    if kit is not None:
        items += kit.flashcards
        items += kit.quiz
    for item in items:
        if isinstance(item, QuizItem):
            model, front, back = basic, _quiz_front(item), _quiz_back(item)
            guid = genanki.guid_for("pegasus", note_scope, "quiz", item.id)
        else:
            model = cloze if item.kind == "cloze" else basic
            front = cloze_text(item) if item.kind == "cloze" else _html(item.front)
            back = _html(item.back)
            guid = genanki.guid_for("pegasus", note_scope, "card", item.id)
        deck.add_note(
            genanki.Note(
                model=model,
                fields=[front, back, _html(item.source.text), _time(item.source)],
                guid=guid,
                tags=tag_list,
            )
        )
    return _package_bytes(genanki.Package(deck), time.time() if timestamp is None else timestamp)


def cloze_text(card: Flashcard) -> str:
    """The card's front as an Anki cloze: each gap becomes ``{{c1::back}}``.

    A front that already has ``{{c1::...}}`` is kept; one without a gap gets the back marked
    where it occurs in the front, or appended, so the note always has a deletion to ask.
    """
    front = _html(card.front)
    if _CLOZE.search(card.front):
        return html.escape(" ".join(card.front.split()), quote=False)
    # Anki ends a deletion at the first "}}" or "::" hint marker.
    answer = _html(card.back).replace("}}", "} }").replace("::", ": :")
    deletion = "{{c1::" + answer + "}}"
    if _GAP.search(front):
        return _GAP.sub(lambda _: deletion, front)
    found = front.lower().find(answer.lower())
    if answer and found >= 0:
        return (
            front[:found]
            + "{{c1::"
            + front[found : found + len(answer)]
            + "}}"
            + front[found + len(answer) :]
        )
    return f"{front}<br>{deletion}"


def _quiz_front(item: QuizItem) -> str:
    options = "".join(f"<li>{_html(option)}</li>" for option in item.options)
    return f'{_html(item.question)}<br><ol type="A" class="options">{options}</ol>'


def _quiz_back(item: QuizItem) -> str:
    letter = OPTION_LETTERS[item.answer_index]
    answer = _html(item.options[item.answer_index])
    return f"<b>{letter}. {answer}</b><br>{_html(item.explanation)}"


def _html(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False)


def _time(span: Span) -> str:
    return time_range(span.start, span.end)


def _package_bytes(package: Any, timestamp: float) -> bytes:
    """``package`` as ``.apkg`` bytes, its collection built in memory (genanki's own writer
    leaves a temporary file behind)."""
    connection = sqlite3.connect(":memory:")
    try:
        package.write_to_db(connection.cursor(), timestamp, itertools.count(int(timestamp * 1000)))
        connection.commit()
        collection = connection.serialize()
    finally:
        connection.close()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("collection.anki2", collection)
        archive.writestr("media", "{}")
    return buffer.getvalue()
