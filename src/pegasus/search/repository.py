"""Indexing transcript segments and querying the database's full-text index."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session

from pegasus.db.models import TranscriptSegment
from pegasus.db.session import rows_changed
from pegasus.transcription.schemas import Transcript

MARK_START = "<mark>"
MARK_END = "</mark>"


@dataclass(frozen=True)
class Hit:
    lecture_id: str
    lecture_title: str
    course_id: str
    start: float
    end: float
    snippet: str


def index_transcript(
    session: Session, *, lecture_id: str, owner_id: str, transcript: Transcript
) -> None:
    """Replace the lecture's indexed segments with ``transcript``'s."""
    session.execute(delete(TranscriptSegment).where(TranscriptSegment.lecture_id == lecture_id))
    session.add_all(
        TranscriptSegment(
            lecture_id=lecture_id,
            owner_id=owner_id,
            position=position,
            start=segment.start,
            end=segment.end,
            text=segment.text.strip(),
        )
        for position, segment in enumerate(transcript.segments)
    )
    session.flush()


def update_segment_text(session: Session, *, lecture_id: str, position: int, text_: str) -> bool:
    """Put a corrected segment's text in the index; False when the segment is not indexed.

    Call it in the same transaction that writes the stored transcript, after taking the
    transcript's edit lock (``pegasus.lectures.edit_lock``), so index and transcript agree.
    """
    result = session.execute(
        update(TranscriptSegment)
        .where(TranscriptSegment.lecture_id == lecture_id, TranscriptSegment.position == position)
        .values(text=text_)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def find_segments(session: Session, *, owner_id: str, words: list[str], limit: int) -> list[Hit]:
    """Segments of ``owner_id``'s lectures holding every one of ``words`` (at least one),
    best first, each with a snippet marking the matches; a lecture whose deletion was
    requested is left out."""
    if session.get_bind().dialect.name == "sqlite":
        # Each word quoted: FTS5 operators and syntax in user input are taken literally.
        match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
        rows = session.execute(
            text(
                "SELECT s.lecture_id, l.title, l.course_id, s.start, s.end, "  # nosec B608  # MARK_*
                f"snippet(transcript_segments_fts, 0, '{MARK_START}', '{MARK_END}', '…', 16) "
                "FROM transcript_segments_fts "
                "JOIN transcript_segments s ON s.id = transcript_segments_fts.rowid "
                "JOIN lectures l ON l.id = s.lecture_id "
                "WHERE transcript_segments_fts MATCH :match AND s.owner_id = :owner "
                "AND l.deleted_at IS NULL "
                "ORDER BY bm25(transcript_segments_fts), s.lecture_id, s.position "
                "LIMIT :limit"
            ),
            {"match": match, "owner": owner_id, "limit": limit},
        ).all()
    else:
        rows = session.execute(
            text(
                "SELECT s.lecture_id, l.title, l.course_id, s.start, s.end, "  # nosec B608  # MARK_*
                "ts_headline('english', s.text, q, "
                f"'StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=8') "
                "FROM transcript_segments s "
                "JOIN lectures l ON l.id = s.lecture_id, "
                "plainto_tsquery('english', :query) q "
                "WHERE s.owner_id = :owner AND s.search_vector @@ q AND l.deleted_at IS NULL "
                "ORDER BY ts_rank(s.search_vector, q) DESC, s.lecture_id, s.position "
                "LIMIT :limit"
            ),
            {"query": " ".join(words), "owner": owner_id, "limit": limit},
        ).all()
    return [
        Hit(
            lecture_id=r[0],
            lecture_title=r[1],
            course_id=r[2],
            start=float(r[3]),
            end=float(r[4]),
            snippet=str(r[5]),
        )
        for r in rows
    ]
