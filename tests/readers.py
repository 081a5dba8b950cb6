"""Reading exports back as a reader would, for assertions on structure rather than text.

``read_markdown`` parses a Markdown export with markdown-it-py (CommonMark) and returns its
outline: the headings in order, and under each the lists (with nesting and numbering) and
paragraphs, as plain text. Timestamps such as ``[04:20]`` are found in that plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

#: ``[mm:ss]``, ``[h:mm:ss]`` or a range ``[mm:ss\u2013mm:ss]`` (en dash) as the exports print them.
TIMESTAMP = re.compile(r"\[(\d+(?::\d\d){1,2})(?:\u2013(\d+(?::\d\d){1,2}))?\]")


def seconds(clock: str) -> int:
    """``"1:02:05"`` or ``"04:20"`` as whole seconds."""
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


def timestamps(text: str) -> list[tuple[int, int | None]]:
    """Every ``[start]`` or ``[start\u2013end]`` in ``text``, as seconds."""
    return [
        (seconds(start), seconds(end) if end else None) for start, end in TIMESTAMP.findall(text)
    ]


@dataclass
class Item:
    """One list item: its own text, its bold parts, and the list nested under it."""

    text: str
    strong: list[str]
    number: int | None  # the item's number in an ordered list, None in a bullet list
    children: list[Item] = field(default_factory=list)


@dataclass
class Section:
    """Everything between one heading and the next."""

    level: int
    title: str
    items: list[Item] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class MarkdownOutline:
    sections: list[Section]
    links: list[str]

    @property
    def headings(self) -> list[tuple[int, str]]:
        return [(s.level, s.title) for s in self.sections]

    def section(self, title: str) -> Section:
        """The section whose heading is ``title`` (timestamps in the heading ignored)."""
        found = [s for s in self.sections if TIMESTAMP.sub("", s.title).strip() == title]
        assert len(found) == 1, f"{len(found)} sections called {title!r}: {self.headings}"
        return found[0]


def _plain(inline: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for node in inline.walk(include_self=False):
        if node.type in ("text", "code_inline"):
            parts.append(node.content)
        elif node.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _strong(inline: SyntaxTreeNode) -> list[str]:
    return [_plain(node) for node in inline.walk(include_self=False) if node.type == "strong"]


def _items(list_node: SyntaxTreeNode) -> list[Item]:
    ordered = list_node.type == "ordered_list"
    start = int(list_node.attrs.get("start", 1)) if ordered else 0
    items: list[Item] = []
    for index, item_node in enumerate(list_node.children):
        text, strong, children = "", [], []
        for child in item_node.children:
            if child.type == "paragraph":
                inline = child.children[0]
                text, strong = _plain(inline), _strong(inline)
            elif child.type in ("bullet_list", "ordered_list"):
                children.extend(_items(child))
        items.append(Item(text, strong, start + index if ordered else None, children))
    return items


def read_markdown(text: str) -> MarkdownOutline:
    """The outline of the Markdown document ``text`` (content before any heading is kept
    in a level-0 section with an empty title)."""
    root = SyntaxTreeNode(MarkdownIt("commonmark").parse(text))
    sections = [Section(level=0, title="")]
    for node in root.children:
        if node.type == "heading":
            sections.append(Section(level=int(node.tag[1:]), title=_plain(node.children[0])))
        elif node.type in ("bullet_list", "ordered_list"):
            sections[-1].items.extend(_items(node))
        elif node.type == "paragraph":
            sections[-1].paragraphs.append(_plain(node.children[0]))
        else:
            raise AssertionError(f"unexpected {node.type} block in the export")
    links = [
        str(node.attrs["href"])
        for node in root.walk()
        if node.type == "link" and "href" in node.attrs
    ]
    if not sections[0].items and not sections[0].paragraphs:
        sections.pop(0)
    return MarkdownOutline(sections=sections, links=links)
