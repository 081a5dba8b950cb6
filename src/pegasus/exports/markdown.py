"""The Markdown export: study notes a learner can read, print or paste into a notes app."""

from __future__ import annotations

import re

from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

# Characters that would turn a learner's words into emphasis, links, code, HTML or tables.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def render_markdown(title: str, transcript: Transcript, kit: StudyKit | None) -> str:
    """Title, duration, then Summary, Key terms and Transcript sections (each only if any)."""
    duration = transcript.duration_seconds or max((s.end for s in transcript.segments), default=0)
    lines = [f"# {escape(title.strip()) or 'Untitled lecture'}", ""]
    lines += [f"**Duration:** {clock(duration)} · **Language:** {escape(transcript.language)}", ""]
    if kit is not None and kit.summary:
        lines += ["## Summary", ""]
        lines += [f"- {escape(s.text)} [{clock(s.start)}]" for s in kit.summary]
        lines.append("")
    if kit is not None and kit.key_terms:
        lines += ["## Key terms", ""]
        lines += [
            f"- **{escape(t.term)}** [{clock(t.first_start)}] — {escape(t.context)}"
            for t in kit.key_terms
        ]
        lines.append("")
    paragraphs = [
        f"**[{clock(s.start)}]** {escape(' '.join(s.text.split()))}"
        for s in transcript.segments
        if s.text.strip()
    ]
    if paragraphs:
        lines += ["## Transcript", ""]
        for paragraph in paragraphs:
            lines += [paragraph, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def escape(text: str) -> str:
    """``text`` with Markdown's inline syntax characters backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
