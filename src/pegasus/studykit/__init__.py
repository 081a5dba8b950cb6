"""Study kits made offline from a transcript: summary, key terms with definitions, chapters,
notes, flashcards and a quiz, every item traceable to the transcript span it comes from."""

from pegasus.studykit.generator import generate_kit
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

__all__ = [
    "Chapter",
    "Flashcard",
    "KeyTerm",
    "NoteBullet",
    "NoteSection",
    "QuizItem",
    "Span",
    "StudyKit",
    "SummarySentence",
    "generate_kit",
]
