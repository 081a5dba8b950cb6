"""The CSV export for Quizlet's import: one ``term,definition`` row per flashcard."""

from __future__ import annotations

import csv
import io

from pegasus.studykit.schemas import StudyKit


def render_csv(kit: StudyKit | None) -> str:
    """No header; definition cards give term and meaning, cloze cards the gapped sentence and
    the missing words. Quoted as RFC 4180 says, each field on one line (Quizlet splits rows
    at line breaks)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for card in kit.flashcards if kit is not None else []:
        writer.writerow([" ".join(card.front.split()), " ".join(card.back.split())])
    return buffer.getvalue()
