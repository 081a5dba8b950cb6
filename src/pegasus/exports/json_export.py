"""The JSON export: transcript and study kit, for other tools to read back."""

from __future__ import annotations

import json
from typing import Any

from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

SCHEMA_VERSION = 1


def render_json(title: str, transcript: Transcript, kit: StudyKit | None) -> str:
    """A JSON document (indent 2, UTF-8 characters kept, keys in a fixed order)."""
    document: dict[str, Any] = {
        "title": title,
        "transcript": transcript.model_dump(mode="json"),
        "study_kit": kit.model_dump(mode="json") if kit is not None else None,
        "schema_version": SCHEMA_VERSION,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
