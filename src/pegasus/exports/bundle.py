"""The zip export: every other export of a lecture in one download."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_STEM_CHARS = 80


def safe_stem(title: str) -> str:
    """A file name stem from ``title``: ASCII letters, digits, ``-`` and ``_`` only."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("_", ascii_title).strip("_-")[:MAX_STEM_CHARS].rstrip("_-")
    return stem or "lecture"


def render_zip(members: Mapping[str, bytes]) -> bytes:
    """A deflated zip archive of ``members`` (name to content), in the mapping's order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
