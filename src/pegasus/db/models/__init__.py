"""All ORM models; importing this package registers every table on ``Base.metadata``."""

from pegasus.db.models.accounts import ApiToken, Invitation, User, WebSession
from pegasus.db.models.compliance import (
    GENESIS_HASH,
    AuditChainHead,
    AuditEvent,
    Deletion,
    DeletionStatus,
)
from pegasus.db.models.courses import Course, Preset
from pegasus.db.models.lectures import (
    Artifact,
    Lecture,
    LectureStatus,
    StageName,
    StageRun,
    StageStatus,
)
from pegasus.db.models.ops import Incident, Worker
from pegasus.db.models.search import TranscriptSegment
from pegasus.db.models.uploads import Upload

__all__ = [
    "GENESIS_HASH",
    "ApiToken",
    "Artifact",
    "AuditChainHead",
    "AuditEvent",
    "Course",
    "Deletion",
    "DeletionStatus",
    "Incident",
    "Invitation",
    "Lecture",
    "LectureStatus",
    "Preset",
    "StageName",
    "StageRun",
    "StageStatus",
    "TranscriptSegment",
    "Upload",
    "User",
    "WebSession",
    "Worker",
]
