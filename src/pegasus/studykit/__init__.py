"""Study kits: an extractive summary and key terms computed from a transcript."""

from pegasus.studykit.generator import generate_kit
from pegasus.studykit.schemas import KeyTerm, StudyKit, SummarySentence

__all__ = ["KeyTerm", "StudyKit", "SummarySentence", "generate_kit"]
