"""The PDF export: the study kit as a printable document, transcript at the end."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from pegasus.exports.markdown import OPTION_LETTERS, clock, time_range
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript

#: Where Debian (fonts-dejavu-core), Fedora and Arch keep DejaVu Sans.
DEFAULT_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
#: PDF core fonts only know Windows-1252; text is transliterated into it when DejaVu is missing.
_CORE_ENCODING = "windows-1252"

_LINE = 5.0  # mm, for 10 pt text
_GREY = 110


class _Document(FPDF):
    def __init__(self, family: str) -> None:
        super().__init__(format="A4")
        self.body_family = family

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.body_family, "", 8)
        self.set_text_color(_GREY)
        self.cell(0, 6, f"{self.page_no()}", align="C")
        self.set_text_color(0)


class _Writer:
    """Sections, paragraphs and bullets on a ``_Document``, in a font that can show the text."""

    def __init__(self, title: str, font_dirs: Sequence[Path]) -> None:
        font_dir = next(
            (d for d in font_dirs if all((d / f).is_file() for f in _FONT_FILES.values())), None
        )
        self.pdf = _Document("DejaVu" if font_dir is not None else "helvetica")
        self.shows: Callable[[str], bool] = _encodable
        if font_dir is not None:
            for style, name in _FONT_FILES.items():
                self.pdf.add_font("DejaVu", style, font_dir / name)
            font = self.pdf.fonts["dejavu"]
            glyphs = frozenset(font.cmap) if isinstance(font, TTFFont) else frozenset()
            self.shows = lambda char: ord(char) in glyphs
        else:
            self.pdf.core_fonts_encoding = _CORE_ENCODING
        self.pdf.set_title(self.text(title))
        self.pdf.set_creator("Pegasus")
        self.pdf.set_margins(18, 18, 18)
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.add_page()

    def text(self, text: str) -> str:
        """``text`` as the document's font can show it."""
        return transliterate(text, self.shows)

    def title(self, text: str, subtitle: str) -> None:
        self._font("B", 20)
        self.pdf.multi_cell(0, 9, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._font("", 10)
        self.pdf.set_text_color(_GREY)
        self.pdf.multi_cell(0, _LINE, self.text(subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.set_text_color(0)

    def heading(self, text: str, *, level: int = 0) -> None:
        size = 15 if level == 0 else 12
        if self.pdf.will_page_break(size + 3 * _LINE):
            self.pdf.add_page()
        self.pdf.ln(4 if level == 0 else 2)
        self.pdf.start_section(self.text(text), level=level)
        self._font("B", size)
        self.pdf.multi_cell(0, size * 0.5, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def line(self, *parts: tuple[str, str], indent: float = 0, space_after: float = 1) -> None:
        """One paragraph of (style, text) runs; wrapped lines keep the indent."""
        margin = self.pdf.l_margin
        self.pdf.set_left_margin(margin + indent)
        self.pdf.set_x(margin + indent)
        for style, text in parts:
            self._font(style, 10)
            self.pdf.write(_LINE, self.text(text))
        self.pdf.ln(_LINE + space_after)
        self.pdf.set_left_margin(margin)
        self.pdf.set_x(margin)

    def output(self) -> bytes:
        return bytes(self.pdf.output())

    def _font(self, style: str, size: float) -> None:
        self.pdf.set_font(self.pdf.body_family, style, size)


def render_pdf(
    title: str,
    transcript: Transcript,
    kit: StudyKit | None,
    *,
    font_dirs: Sequence[Path] = DEFAULT_FONT_DIRS,
) -> bytes:
    """An A4 PDF: title, summary, chapters, notes, key terms, flashcards, quiz, answer key and
    the timestamped transcript; sections without content are left out.

    DejaVu Sans from the first of ``font_dirs`` that has it shows any European script; without
    it the PDF core fonts are used and other characters are transliterated or become ``?``.
    """
    name = " ".join(title.split()) or "Untitled lecture"
    duration = transcript.duration_seconds or max((s.end for s in transcript.segments), default=0)
    doc = _Writer(name, font_dirs)
    doc.title(name, f"Duration {clock(duration)} · Language {transcript.language}")
    if kit is not None:
        _study_kit(doc, kit)
    segments = [s for s in transcript.segments if s.text.strip()]
    if segments:
        doc.heading("Transcript")
        for segment in segments:
            doc.line(("B", f"[{clock(segment.start)}] "), ("", _one_line(segment.text)))
    return doc.output()


def _study_kit(doc: _Writer, kit: StudyKit) -> None:
    if kit.summary:
        doc.heading("Summary")
        for sentence in kit.summary:
            doc.line(("", f"• {_one_line(sentence.text)} "), ("I", f"[{clock(sentence.start)}]"))
    if kit.chapters:
        doc.heading("Chapters")
        for chapter in kit.chapters:
            doc.line(
                ("B", f"{chapter.index + 1}. "),
                ("", f"{_one_line(chapter.title)} "),
                ("I", f"[{time_range(chapter.start, chapter.end)}]"),
            )
    if kit.notes:
        starts = {c.index: c.start for c in kit.chapters}
        doc.heading("Notes")
        for section in kit.notes:
            start = starts.get(section.chapter)
            when = f" [{clock(start)}]" if start is not None else ""
            doc.heading(f"{_one_line(section.heading)}{when}", level=1)
            for bullet in section.bullets:
                doc.line(
                    ("", f"• {_one_line(bullet.text)} "),
                    ("I", f"[{clock(bullet.source.start)}]"),
                    indent=3,
                )
    if kit.key_terms:
        doc.heading("Key terms")
        for term in kit.key_terms:
            start = term.source.start if term.source is not None else term.first_start
            doc.line(
                ("B", term.term),
                ("I", f" [{clock(start)}]"),
                ("", f" — {_one_line(term.definition or term.context)}"),
            )
    if kit.flashcards:
        doc.heading("Flashcards")
        for n, card in enumerate(kit.flashcards, start=1):
            doc.line(("B", f"{n}. Q: "), ("", _one_line(card.front)), space_after=0)
            doc.line(
                ("B", "A: "),
                ("", f"{_one_line(card.back)} "),
                ("I", f"[{time_range(card.source.start, card.source.end)}]"),
                indent=5,
                space_after=2,
            )
    if kit.quiz:
        doc.heading("Quiz")
        for n, item in enumerate(kit.quiz, start=1):
            doc.line(
                ("B", f"{n}. "),
                ("", f"{_one_line(item.question)} "),
                ("I", f"[{clock(item.source.start)}]"),
                space_after=0,
            )
            for letter, option in zip(OPTION_LETTERS, item.options, strict=True):
                doc.line(("B", f"{letter}. "), ("", _one_line(option)), indent=5, space_after=0)
            doc.pdf.ln(2)
        doc.heading("Answer key")
        for n, item in enumerate(kit.quiz, start=1):
            doc.line(
                ("B", f"{n}. {OPTION_LETTERS[item.answer_index]} "),
                ("", f"({_one_line(item.options[item.answer_index])}) — "),
                ("", _one_line(item.explanation)),
            )


def _one_line(text: str) -> str:
    return " ".join(text.split())


# Characters Unicode does not decompose, with the nearest plain ones.
_LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2212", "-"),
        **dict.fromkeys("\u00a0\u2009\u202f", " "),
        **{"\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0131": "i"},
    }
)


def transliterate(text: str, shows: Callable[[str], bool]) -> str:
    """``text`` in characters a font ``shows``: lookalikes or accents dropped where that
    helps, ``?`` otherwise (a PDF cannot show a glyph its font lacks)."""
    out = []
    for char in text:
        if shows(char):
            out.append(char)
            continue
        simpler = "".join(
            c
            for c in unicodedata.normalize("NFKD", char.translate(_LOOKALIKES))
            if not unicodedata.combining(c)
        )
        out.append(simpler if simpler and all(shows(c) for c in simpler) else "?")
    return "".join(out)


def _encodable(char: str) -> bool:
    """Whether the PDF core fonts (Windows-1252) have ``char``."""
    try:
        char.encode(_CORE_ENCODING)
    except UnicodeEncodeError:
        return False
    return True
