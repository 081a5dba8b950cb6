"""The actions the audit log knows: one constant each, and what each entry of it holds.

``record`` refuses any other action, so a typo never writes an entry nobody searches for.
``CATALOG`` is the table ``docs/security/audit-log.md`` shows, row for row (a unit test
keeps the two in step): for each action who the actor is, what the subject is, and which
details it carries.
Details hold ids, counts and codes only, never an e-mail address, a name or a client address.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- signing in and out -------------------------------------------------------------------
#: A right password: a session starts.
SIGN_IN = "auth.sign_in"
#: A wrong password, an unknown e-mail, or a disabled account's right password.
SIGN_IN_FAILED = "auth.sign_in_failed"
#: The browser's own session ended: the person signed out, or a new sign-in replaced it.
SIGN_OUT = "auth.sign_out"
#: Sessions ended from the account page: one device, all others, or all.
SESSION_ENDED = "auth.session_ended"
PASSWORD_CHANGED = "auth.password_changed"  # nosec B105  # an action's name, not a secret

# --- API tokens ---------------------------------------------------------------------------
TOKEN_CREATED = "token.created"  # nosec B105  # an action's name, not a secret
TOKEN_REVOKED = "token.revoked"  # nosec B105  # an action's name, not a secret

# --- users and invitations ----------------------------------------------------------------
USER_INVITED = "user.invited"
INVITATION_REVOKED = "user.invitation_revoked"
USER_CREATED = "user.created"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"

# --- deletions and exports (recorded by ``pegasus.deletion`` and the export routes) ----------
USER_DELETION_REQUESTED = "user.deletion_requested"
COURSE_DELETION_REQUESTED = "course.deletion_requested"
LECTURE_DELETION_REQUESTED = "lecture.deletion_requested"
DELETION_COMPLETED = "deletion.completed"
RECEIPT_DOWNLOADED = "deletion.receipt_downloaded"
EXPORT_DOWNLOADED = "export.downloaded"


@dataclass(frozen=True)
class ActionInfo:
    """What an entry of one action holds (for the documentation and the admin view)."""

    action: str
    actor: str
    subject: str
    details: str


CATALOG: tuple[ActionInfo, ...] = (
    ActionInfo(SIGN_IN, "the user", "user: the user", "`method`: `password`"),
    ActionInfo(
        SIGN_IN_FAILED,
        "the account's user when the e-mail names one, else none",
        "user: that user; or `account` with no id (an unknown e-mail, never stored)",
        "`reason`: `wrong_password`, `unknown_account` or `account_disabled`",
    ),
    ActionInfo(
        SIGN_OUT,
        "the session's user",
        "user: the session's user",
        "`reason`: `signed_out`, or `replaced` when a new sign-in in the same browser ended it",
    ),
    ActionInfo(
        SESSION_ENDED,
        "the user",
        "user: the user",
        "`scope`: `one`, `others` or `all` (sign out everywhere); `ended`: how many ended",
    ),
    ActionInfo(
        PASSWORD_CHANGED,
        "the user",
        "user: the user",
        "`other_sessions_ended`: how many other sessions ended",
    ),
    ActionInfo(
        TOKEN_CREATED,
        "the owner; none from `pegasus tokens create`",
        "token: the token's id",
        "`owner_id`; `expires_in_days` (none: until revoked); never the name or the secret",
    ),
    ActionInfo(
        TOKEN_REVOKED,
        "the owner or the admin; none from `pegasus tokens revoke`",
        "token: the token's id",
        "`owner_id`",
    ),
    ActionInfo(
        USER_INVITED,
        "the admin; none from `pegasus users invite`",
        "invitation: the invitation's id",
        "`is_admin`; `expires_at`",
    ),
    ActionInfo(INVITATION_REVOKED, "the admin", "invitation: the invitation's id", "none"),
    ActionInfo(
        USER_CREATED,
        "the new user when they signed up; none from `pegasus users create`",
        "user: the new user",
        "`via`: `operator`, `signup` or `invitation`; `invitation_id`; `is_admin`",
    ),
    ActionInfo(
        USER_DISABLED,
        "the admin; none from `pegasus users disable`",
        "user: the disabled user",
        "`sessions_ended`",
    ),
    ActionInfo(
        USER_ENABLED,
        "the admin; none from `pegasus users enable`",
        "user: the enabled user",
        "none",
    ),
    ActionInfo(
        USER_DELETION_REQUESTED,
        "the admin",
        "user: the user to delete",
        "`deletion_id`, `owner_id`, `courses`, `lectures` (counts)",
    ),
    ActionInfo(
        COURSE_DELETION_REQUESTED,
        "the owner or an admin",
        "course: the course",
        "`deletion_id`, `owner_id`, `lectures` (count)",
    ),
    ActionInfo(
        LECTURE_DELETION_REQUESTED,
        "the owner or an admin",
        "lecture: the lecture",
        "`deletion_id`, `owner_id`, `course_id`",
    ),
    ActionInfo(
        DELETION_COMPLETED,
        "none (the background purge)",
        "the deleted lecture, course or user",
        "`deletion_id`, `objects` and `rows` removed, `verified`",
    ),
    ActionInfo(
        RECEIPT_DOWNLOADED,
        "the owner or an admin",
        "deletion: the deletion's id",
        "none",
    ),
    ActionInfo(
        EXPORT_DOWNLOADED,
        "the owner",
        "lecture: the lecture",
        "`format`",
    ),
)

#: Every action ``record`` accepts.
KNOWN_ACTIONS: frozenset[str] = frozenset(info.action for info in CATALOG)
