"""Quality harness for the offline study-kit generator: ``python -m eval.run`` (``make eval``).

Each fixture lecture in ``eval/fixtures/*.yaml`` (a title, sections of sentences, a glossary)
is spoken section by section with espeak-ng, the sections joined with a short pause so each
section's start time is known exactly, then run through the real pipeline pieces:
``transcode_to_wav16k``, ``Transcriber`` (default settings, the bundled model) and
``generate_kit`` with the ``full-notes`` preset. The table it prints:

- heard: share of the glossary the recogniser wrote down at all (a ceiling for recall);
- terms: share of the glossary found among the kit's key terms (case-insensitive, plurals
  and hyphens tolerated); defined: share of those found that carry a definition;
- bounds R / P: known section starts (after the first) matched one-to-one by a chapter start
  within 30 s, over the known starts (recall) and over the chapter starts (precision);
  off by: the mean distance of the matched ones;
- traceable: share of key terms, note bullets, flashcards and quiz items whose source span
  text is in the transcript, with times inside it (must be 100%);
- one correct: share of quiz items with exactly one option that is the answer and no other
  option that overlaps it (must be 100%).

A second table runs the generator on the script itself (sentences timed in proportion to
their length within each known section): what the generator does without recognition errors.

Exits 1 when traceability or single-correct is below 100% in either table. Everything it
writes lives in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from pegasus.config import LogSettings, TranscriptionSettings
from pegasus.media.transcode import transcode_to_wav16k
from pegasus.observability.logging import configure_logging
from pegasus.presets import BUILTIN_PRESETS
from pegasus.studykit import StudyKit, generate_kit
from pegasus.studykit.schemas import QuizItem, Span
from pegasus.studykit.text import normalize
from pegasus.transcription.schemas import Segment, Transcript
from pegasus.transcription.transcriber import Transcriber
from pegasus_testkit.audio import synthesize_speech

FIXTURES = Path(__file__).parent / "fixtures"
PRESET = "full-notes"
WORDS_PER_MINUTE = 160
SECTION_PAUSE_SECONDS = 0.5
BOUNDARY_TOLERANCE_SECONDS = 30.0
MAX_SECONDS = 3600.0
_EPSILON = 1e-6


class GlossaryEntry(BaseModel):
    term: str = Field(min_length=1)
    definition: str = Field(min_length=1)


class Section(BaseModel):
    title: str = Field(min_length=1)
    sentences: list[str] = Field(min_length=1)


class Fixture(BaseModel):
    """A lecture script with what a good study kit must find in it."""

    title: str
    sections: list[Section] = Field(min_length=1)
    glossary: list[GlossaryEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Score:
    """What one lecture (or all of them, summed) scored."""

    name: str
    seconds: float
    glossary: int
    heard: int
    found: int
    defined: int
    known_bounds: int
    found_bounds: int
    matched_bounds: int
    #: Sum over matched boundaries of how far the chapter start is from the known one.
    offset_seconds: float
    spans: int
    traceable: int
    quiz: int
    one_correct: int
    cards: int
    bullets: int

    def __add__(self, other: Score) -> Score:
        fields = {
            name: getattr(self, name) + getattr(other, name)
            for name in self.__dataclass_fields__
            if name != "name"
        }
        return Score(name="overall", **fields)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="folder of *.yaml")
    parser.add_argument("--verbose", action="store_true", help="also print each kit")
    args = parser.parse_args(argv)
    paths = sorted(args.fixtures.glob("*.yaml"))
    if not paths:
        parser.error(f"no fixtures in {args.fixtures}")
    configure_logging(LogSettings(level="WARNING", json_output=False))
    transcriber = Transcriber(TranscriptionSettings())
    spoken: list[Score] = []
    scripted: list[Score] = []
    with tempfile.TemporaryDirectory(prefix="pegasus-eval-") as tmp:
        for path in paths:
            fixture = Fixture.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            started = time.monotonic()
            transcript, starts = _transcribe(fixture, transcriber, Path(tmp) / path.stem)
            kit = generate_kit(transcript, BUILTIN_PRESETS[PRESET])
            spoken.append(_score(path.stem, fixture, transcript, starts, kit))
            script = _script_transcript(fixture, starts, transcript.duration_seconds)
            script_kit = generate_kit(script, BUILTIN_PRESETS[PRESET])
            scripted.append(_score(path.stem, fixture, script, starts, script_kit))
            _err(f"{path.stem}: {time.monotonic() - started:.0f} s\n")
            if args.verbose:
                _err(_describe(fixture, starts, transcript, kit))
    sys.stdout.write(f"Spoken with espeak-ng, transcribed, {PRESET} preset:\n\n")
    sys.stdout.write(_table([*spoken, _total(spoken)]))
    sys.stdout.write("\nThe scripts as transcripts (no recognition errors):\n\n")
    sys.stdout.write(_table([*scripted, _total(scripted)]))
    ok = all(
        total.traceable == total.spans and total.one_correct == total.quiz
        for total in (_total(spoken), _total(scripted))
    )
    if not ok:
        sys.stdout.write("FAILED: traceability and single-correct must both be 100%\n")
    return 0 if ok else 1


def _total(scores: Sequence[Score]) -> Score:
    total = scores[0]
    for score in scores[1:]:
        total = total + score
    return total


def _transcribe(
    fixture: Fixture, transcriber: Transcriber, workdir: Path
) -> tuple[Transcript, list[float]]:
    """The lecture spoken and transcribed, and the second at which each section starts."""
    workdir.mkdir(parents=True)
    lecture = workdir / "lecture.wav"
    starts: list[float] = []
    with wave.open(str(lecture), "wb") as out:
        frames_written = 0
        for i, section in enumerate(fixture.sections):
            part = synthesize_speech(
                " ".join(section.sentences), workdir / f"section-{i}.wav", wpm=WORDS_PER_MINUTE
            )
            with wave.open(str(part), "rb") as spoken:
                if i == 0:
                    out.setparams(spoken.getparams())
                rate = spoken.getframerate()
                if i:
                    pause = int(SECTION_PAUSE_SECONDS * rate)
                    out.writeframes(b"\x00" * pause * spoken.getsampwidth())
                    frames_written += pause
                starts.append(frames_written / rate)
                frames = spoken.readframes(spoken.getnframes())
                out.writeframes(frames)
                frames_written += spoken.getnframes()
    speech = workdir / "lecture-16k.wav"
    transcode_to_wav16k(lecture, speech, max_duration_seconds=MAX_SECONDS)
    return transcriber.transcribe(speech), starts


def _script_transcript(fixture: Fixture, starts: Sequence[float], duration: float) -> Transcript:
    """The script as a transcript: each sentence a segment, timed within its known section
    in proportion to its length."""
    segments = []
    ends = [*(start - SECTION_PAUSE_SECONDS for start in starts[1:]), duration]
    for section, start, end in zip(fixture.sections, starts, ends, strict=True):
        total = sum(len(sentence) for sentence in section.sentences)
        at = start
        for sentence in section.sentences:
            said = (end - start) * len(sentence) / total
            segments.append(Segment(start=round(at, 3), end=round(at + said, 3), text=sentence))
            at += said
    return Transcript(language="en", duration_seconds=duration, segments=segments)


def _score(
    name: str, fixture: Fixture, transcript: Transcript, starts: Sequence[float], kit: StudyKit
) -> Score:
    said = _key(transcript.text)
    heard = sum(1 for g in fixture.glossary if _nested(_key(g.term), said))
    found_terms = {_key(t.term): t for t in kit.key_terms}
    found = [found_terms[_key(g.term)] for g in fixture.glossary if _key(g.term) in found_terms]
    known = list(starts[1:])
    chapter_starts = [c.start for c in kit.chapters[1:]]
    matched, offset = _matched(known, chapter_starts)
    spans = [
        *(t.source for t in kit.key_terms),
        *(b.source for n in kit.notes for b in n.bullets),
        *(c.source for c in kit.flashcards),
        *(q.source for q in kit.quiz),
    ]
    return Score(
        name=name,
        seconds=transcript.duration_seconds,
        glossary=len(fixture.glossary),
        heard=heard,
        found=len(found),
        defined=sum(1 for t in found if t.definition),
        known_bounds=len(known),
        found_bounds=len(chapter_starts),
        matched_bounds=matched,
        offset_seconds=offset,
        spans=len(spans),
        traceable=sum(1 for s in spans if _traceable(s, transcript)),
        quiz=len(kit.quiz),
        one_correct=sum(1 for q in kit.quiz if _one_correct(q)),
        cards=len(kit.flashcards),
        bullets=sum(len(n.bullets) for n in kit.notes),
    )


def _key(term: str) -> tuple[str, ...]:
    """Case-insensitive, plural- and hyphen-tolerant form of a term."""
    return tuple(normalize(w) for w in re.findall(r"[^\W_]+", term.lower()))


def _matched(known: Sequence[float], found: Sequence[float]) -> tuple[int, float]:
    """How many known boundaries a found one matches one-to-one within the tolerance, and
    the sum of their distances."""
    pairs = sorted(
        (abs(k - f), i, j)
        for i, k in enumerate(known)
        for j, f in enumerate(found)
        if abs(k - f) <= BOUNDARY_TOLERANCE_SECONDS
    )
    used_known: set[int] = set()
    used_found: set[int] = set()
    distance = 0.0
    for gap, i, j in pairs:
        if i not in used_known and j not in used_found:
            used_known.add(i)
            used_found.add(j)
            distance += gap
    return len(used_known), distance


def _traceable(span: Span | None, transcript: Transcript) -> bool:
    if span is None or not span.text.strip():
        return False
    inside = 0 <= span.start <= span.end <= transcript.duration_seconds + _EPSILON
    return inside and span.text in transcript.text


def _one_correct(item: QuizItem) -> bool:
    if not 0 <= item.answer_index < len(item.options):
        return False
    answer = _key(item.options[item.answer_index])
    keys = [_key(o) for o in item.options]
    if sum(1 for k in keys if k == answer) != 1:
        return False
    others = [k for i, k in enumerate(keys) if i != item.answer_index]
    return not any(_nested(answer, k) or _nested(k, answer) for k in others)


def _nested(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    size = len(short)
    return any(long[i : i + size] == short for i in range(len(long) - size + 1))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _table(scores: Sequence[Score]) -> str:
    header = (
        "lecture",
        "min",
        "heard",
        "terms",
        "defined",
        "bounds R",
        "bounds P",
        "off by",
        "bullets",
        "cards",
        "quiz",
        "traceable",
        "one correct",
    )
    rows = [
        (
            s.name,
            f"{s.seconds / 60:.1f}",
            f"{_percent(s.heard, s.glossary)}",
            f"{_percent(s.found, s.glossary)} ({s.found}/{s.glossary})",
            f"{_percent(s.defined, s.found)} ({s.defined}/{s.found})",
            f"{_percent(s.matched_bounds, s.known_bounds)} ({s.matched_bounds}/{s.known_bounds})",
            f"{_percent(s.matched_bounds, s.found_bounds)} ({s.matched_bounds}/{s.found_bounds})",
            f"{s.offset_seconds / s.matched_bounds:.1f} s" if s.matched_bounds else "-",
            str(s.bullets),
            str(s.cards),
            str(s.quiz),
            f"{_percent(s.traceable, s.spans)} ({s.traceable}/{s.spans})",
            f"{_percent(s.one_correct, s.quiz)} ({s.one_correct}/{s.quiz})",
        )
        for s in scores
    ]
    widths = [max(len(row[c]) for row in (header, *rows)) for c in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |\n"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|\n"
    return line(header) + rule + "".join(line(row) for row in rows)


def _describe(
    fixture: Fixture, starts: Sequence[float], transcript: Transcript, kit: StudyKit
) -> str:
    lines = [f"== {fixture.title}", "known sections:"]
    lines += [f"  {t:7.1f}  {s.title}" for t, s in zip(starts, fixture.sections, strict=True)]
    lines.append("chapters:")
    lines += [f"  {c.start:7.1f}  {c.title}" for c in kit.chapters]
    lines.append("key terms:")
    lines += [f"  {t.term}: {t.definition}" for t in kit.key_terms]
    lines.append("flashcards:")
    lines += [f"  [{c.kind}] {c.front} -> {c.back}" for c in kit.flashcards]
    lines.append("quiz:")
    for q in kit.quiz:
        lines.append(f"  {q.question}")
        lines += [f"    {'*' if i == q.answer_index else ' '} {o}" for i, o in enumerate(q.options)]
    lines.append("transcript:")
    lines += [f"  {s.start:7.1f} {s.text}" for s in transcript.segments]
    return "\n".join(lines) + "\n"


def _err(text: str) -> None:
    sys.stderr.write(text)


if __name__ == "__main__":
    raise SystemExit(main())
