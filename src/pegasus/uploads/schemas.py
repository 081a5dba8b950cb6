"""The tus 1.0 wire format: protocol constants, ``Upload-Metadata`` and header values."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from pegasus.errors import UploadHeaderError

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
#: Response header naming the lecture a completed upload became.
LECTURE_HEADER = "Pegasus-Lecture-Id"
METADATA_KEYS = frozenset({"filename", "filetype", "course_id", "preset", "title"})
_MAX_METADATA_CHARS = 8 * 1024


@dataclass(frozen=True)
class UploadRequest:
    """What a creation request (POST) asks for, from its tus headers."""

    length: int
    course_id: str
    preset: str | None
    title: str | None
    filename: str | None
    filetype: str | None


def parse_length(value: str | None, header: str) -> int:
    """A non-negative decimal header value (``Upload-Length``, ``Upload-Offset``)."""
    if value is None or not value.strip():
        raise UploadHeaderError(f"Send the {header} header (a number of bytes).")
    text = value.strip()
    if not text.isdigit() or len(text) > 18:
        raise UploadHeaderError(f"{header} must be a non-negative number of bytes.")
    return int(text)


def parse_metadata(value: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (value optional).

    Unknown keys are kept (clients such as tus-js-client add their own) but only the
    documented ones are used."""
    if not value or not value.strip():
        return {}
    if len(value) > _MAX_METADATA_CHARS:
        raise UploadHeaderError("Upload-Metadata is too long.")
    found: dict[str, str] = {}
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2:
            raise UploadHeaderError(
                "Upload-Metadata must be comma-separated 'key base64value' pairs."
            )
        if key in found:
            raise UploadHeaderError(f"Upload-Metadata names {key!r} twice.")
        encoded = parts[1] if len(parts) == 2 else ""
        try:
            found[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise UploadHeaderError(
                f"The Upload-Metadata value of {key!r} is not base64-encoded UTF-8."
            ) from exc
    return found


def upload_request(length_header: str | None, metadata_header: str | None) -> UploadRequest:
    """The creation request's length and the documented metadata keys."""
    length = parse_length(length_header, "Upload-Length")
    metadata = parse_metadata(metadata_header)
    course_id = metadata.get("course_id", "").strip()
    if not course_id:
        raise UploadHeaderError(
            "Name the course in Upload-Metadata: 'course_id' with the course's id in base64."
        )
    return UploadRequest(
        length=length,
        course_id=course_id,
        preset=metadata.get("preset") or None,
        title=metadata.get("title") or None,
        filename=metadata.get("filename") or None,
        filetype=metadata.get("filetype") or None,
    )


def http_date(moment: datetime) -> str:
    """RFC 9110 HTTP-date, as ``Upload-Expires`` carries it."""
    return format_datetime(moment, usegmt=True)
