"""HTTP shapes of deletions and their receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pegasus.db.models import Deletion


class DeletionOut(BaseModel):
    """A deletion as its requester sees it; ``receipt_url`` once it is completed."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    subject_type: Literal["lecture", "course", "user"]
    subject_id: str
    status: Literal["pending", "completed"]
    requested_at: datetime
    completed_at: datetime | None
    attempts: int
    last_error_code: str | None = Field(
        description="why the last attempt was put off (`deletion.work_in_progress`, "
        "`storage.unavailable`, ...); retried until done"
    )
    receipt_url: str | None

    @classmethod
    def of(cls, deletion: Deletion) -> DeletionOut:
        done = deletion.status == "completed"
        return cls.model_validate(
            {
                **{k: getattr(deletion, k) for k in cls.model_fields if k != "receipt_url"},
                "receipt_url": f"/api/v1/deletions/{deletion.id}/receipt" if done else None,
            }
        )


class ReceiptOut(BaseModel):
    """What was deleted, by whom, when, how much, and the check that nothing is left."""

    format: Literal["pegasus.deletion-receipt/1"] = "pegasus.deletion-receipt/1"
    deletion_id: str
    subject_type: str
    subject_id: str
    owner_id: str | None
    requested_by: str | None
    requested_at: datetime
    completed_at: datetime
    attempts: int
    removed: dict[str, int] = Field(description="rows removed by table, and `objects`")
    verification: dict[str, Any] = Field(
        description="`rows_left`, `objects_left`, `prefixes_checked`, `passed`, `checked_at`, "
        "and `audit_seq`: the audit log entry that recorded the completion"
    )

    @classmethod
    def of(cls, deletion: Deletion) -> ReceiptOut:
        assert deletion.completed_at is not None
        return cls(
            deletion_id=deletion.id,
            subject_type=deletion.subject_type,
            subject_id=deletion.subject_id,
            owner_id=deletion.owner_id,
            requested_by=deletion.requested_by,
            requested_at=deletion.requested_at,
            completed_at=deletion.completed_at,
            attempts=deletion.attempts,
            removed={k: int(v) for k, v in deletion.removed.items()},
            verification=dict(deletion.verification),
        )
