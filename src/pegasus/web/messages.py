"""What a learner reads when something fails: error code -> (what happened, what to do).

Pages and scripts show these sentences, never an exception's text or a provider's
response. Every code a learner can meet has an entry (``tests/unit/test_web_messages.py``
walks the error tree to keep it so); ``docs/ux/failure-states.md`` is rendered from this
table by ``render_markdown`` and compared with it by the same test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: What the page offers next to the message.
Action = Literal["retry", "upload_again", "wait", "sign_in", "reload", "go_back", "contact"]


@dataclass(frozen=True)
class LearnerMessage:
    """One failure state as the learner sees it."""

    happened: str
    todo: str
    action: Action

    def as_dict(self) -> dict[str, str]:
        return {"happened": self.happened, "todo": self.todo, "action": self.action}


_UPLOAD_AGAIN = "Start a new lecture with the file and upload it again."

#: Where the code is met: on the lecture's status page (a stage failed) or while the
#: learner does something (a form, an upload, a button).
STAGE_MESSAGES: dict[str, LearnerMessage] = {
    "media.invalid": LearnerMessage(
        "Pegasus could not read this recording.",
        "Check that the file plays on your device. " + _UPLOAD_AGAIN,
        "upload_again",
    ),
    "media.empty": LearnerMessage(
        "The file that arrived is empty: it holds no recording.",
        "Record the lecture again, or pick the file again, and upload it.",
        "upload_again",
    ),
    "media.unsupported_format": LearnerMessage(
        "This file is not an audio or video recording that Pegasus can read.",
        "Upload a recording in m4a, mp3, wav, ogg, webm, flac or mp4 format.",
        "upload_again",
    ),
    "media.corrupt": LearnerMessage(
        "The recording is damaged or incomplete. This happens when an upload or a "
        "recording was cut off.",
        "Check that the file plays to the end on your device, then upload it again.",
        "upload_again",
    ),
    "media.no_audio": LearnerMessage(
        "The file has no sound track.",
        "Upload a recording that has sound (a video needs its audio too).",
        "upload_again",
    ),
    "media.too_long": LearnerMessage(
        "The recording is longer than this server accepts.",
        "Split the recording into shorter parts and upload each part as its own lecture.",
        "upload_again",
    ),
    "media.too_large": LearnerMessage(
        "The file is larger than this server accepts.",
        "Split the recording into shorter parts, or save it in a compressed format such "
        "as m4a or mp3, and upload again.",
        "upload_again",
    ),
    "transcription.failed": LearnerMessage(
        "The speech in the recording could not be turned into text.",
        "Press Retry. If it fails again, check that the recording has audible speech.",
        "retry",
    ),
    "transcription.model_unavailable": LearnerMessage(
        "The speech recognition model is missing on this server.",
        "Tell the person who runs Pegasus. When they have fixed it, press Retry: your "
        "upload is kept.",
        "contact",
    ),
    "generation.failed": LearnerMessage(
        "The study kit could not be made from the transcript. Your transcript is saved.",
        "Press Retry. Only this step runs again.",
        "retry",
    ),
    "generation.llm_unavailable": LearnerMessage(
        "The service that writes the study kit did not answer. Your transcript is saved.",
        "Press Retry in a few minutes. Only this step runs again.",
        "retry",
    ),
    "generation.llm_refused": LearnerMessage(
        "The service that writes the study kit refused to work for this server. "
        "Your transcript is saved.",
        "Tell the person who runs Pegasus. When they have fixed it, press Retry: only this "
        "step runs again.",
        "contact",
    ),
    "generation.invalid_output": LearnerMessage(
        "The service that writes the study kit gave an answer Pegasus could not use. "
        "Your transcript is saved.",
        "Press Retry. Only this step runs again.",
        "retry",
    ),
    "export.failed": LearnerMessage(
        "The download files could not be written. Your transcript and study kit are saved.",
        "Press Retry. Only this step runs again.",
        "retry",
    ),
    "storage.full": LearnerMessage(
        "Pegasus's file storage is full, so this step could not save its work. Nothing you "
        "uploaded is lost.",
        "Tell the person who runs Pegasus that its storage is full, then press Retry.",
        "retry",
    ),
    "storage.unavailable": LearnerMessage(
        "Pegasus could not reach its file storage, so this step stopped. Nothing you "
        "uploaded is lost.",
        "Press Retry in a minute. The lecture continues from this step.",
        "retry",
    ),
    "storage.object_missing": LearnerMessage(
        "A file this step needs is missing from storage.",
        "Press Retry. If it fails again, " + _UPLOAD_AGAIN[0].lower() + _UPLOAD_AGAIN[1:],
        "retry",
    ),
    "worker.lost": LearnerMessage(
        "The computer processing this step stopped before it finished.",
        "Press Retry. The lecture continues from this step.",
        "retry",
    ),
    "worker.lease_lost": LearnerMessage(
        "Another computer took over this step because the first one stopped answering.",
        "Press Retry if the lecture does not move on within a few minutes.",
        "retry",
    ),
    "database.unavailable": LearnerMessage(
        "Pegasus could not reach its database, so this step stopped. Nothing is lost.",
        "Press Retry in a minute. The lecture continues from this step.",
        "retry",
    ),
    "lecture.deleted": LearnerMessage(
        "This lecture was deleted, so its processing stopped.",
        "Go back to your courses; the lecture and everything made from it are being removed.",
        "go_back",
    ),
    "internal.error": LearnerMessage(
        "Something went wrong on our side while processing this step.",
        "Press Retry. If it keeps failing, tell the person who runs Pegasus.",
        "retry",
    ),
    "pipeline.failed": LearnerMessage(
        "This step failed.",
        "Press Retry. The lecture continues from this step.",
        "retry",
    ),
}

REQUEST_MESSAGES: dict[str, LearnerMessage] = {
    "not_found": LearnerMessage(
        "This page or item does not exist, or it is not yours.",
        "Go back to your courses and open it from there.",
        "go_back",
    ),
    "method_not_allowed": LearnerMessage(
        "That action is not available here.",
        "Go back to your courses and try again from there.",
        "go_back",
    ),
    "conflict": LearnerMessage(
        "Someone or something changed this at the same moment.",
        "Reload the page to see the current state, then try again.",
        "reload",
    ),
    "deletion.pending": LearnerMessage(
        "This deletion is still in progress: the receipt is written once everything is "
        "removed and checked.",
        "Wait a minute, then reload the page to download the receipt.",
        "wait",
    ),
    "user.cannot_delete_self": LearnerMessage(
        "You cannot delete your own account from here.",
        "Ask another admin to delete it.",
        "go_back",
    ),
    "lecture.nothing_to_retry": LearnerMessage(
        "This lecture has no failed step to retry; it may already be running again.",
        "Reload the page to see its current status.",
        "reload",
    ),
    "lecture.busy": LearnerMessage(
        "This lecture is still being processed.",
        "Wait until its status says Done, then try again.",
        "wait",
    ),
    "edit.conflict": LearnerMessage(
        "Someone changed this on another page or device after you opened it.",
        "Your text is kept on the page. Reload to see their version, then make your change again.",
        "reload",
    ),
    "request.invalid": LearnerMessage(
        "Some of what you entered cannot be used.",
        "Check the fields marked on the page and try again.",
        "go_back",
    ),
    "request.too_large": LearnerMessage(
        "What you sent is too large for this form.",
        "Shorten it and try again.",
        "go_back",
    ),
    "preset.unknown": LearnerMessage(
        "That preset does not exist for this course.",
        "Go back and choose one of the presets shown.",
        "go_back",
    ),
    "transcription_mode.unknown": LearnerMessage(
        "That transcription mode does not exist.",
        "Choose Fast or Accurate, or the server's default.",
        "go_back",
    ),
    "auth.required": LearnerMessage(
        "You are signed out.",
        "Sign in again; then repeat what you were doing.",
        "sign_in",
    ),
    "auth.forbidden": LearnerMessage(
        "Your account is not allowed to do that.",
        "Ask the person who runs Pegasus if you think you should be.",
        "go_back",
    ),
    "auth.csrf": LearnerMessage(
        "The page was open too long or was opened in another tab, so the action was "
        "stopped to keep your account safe.",
        "Reload the page and try again.",
        "reload",
    ),
    "user.exists": LearnerMessage(
        "An account with that email address already exists.",
        "Sign in instead, or use another email address.",
        "sign_in",
    ),
    "user.deleted": LearnerMessage(
        "This account was deleted, so it cannot be enabled again.",
        "If the person needs Pegasus again, invite them to create a new account.",
        "go_back",
    ),
    "auth.wrong_password": LearnerMessage(
        "The current password is not right.",
        "Type your current password again.",
        "go_back",
    ),
    "signup.closed": LearnerMessage(
        "This server does not take new sign-ups.",
        "Ask the person who runs Pegasus for an account or an invitation link.",
        "contact",
    ),
    "invitation.invalid": LearnerMessage(
        "This invitation link was used already, has expired or is mistyped.",
        "Ask the person who invited you for a new link.",
        "contact",
    ),
    "auth.account_disabled": LearnerMessage(
        "Your account is disabled, so you cannot sign in.",
        "Ask the person who runs Pegasus to enable your account again.",
        "contact",
    ),
    "auth.rate_limited": LearnerMessage(
        "Sign-in is paused for a while after too many attempts with a wrong password.",
        "Wait until then, and check the email address and password before you try again. If "
        "you forgot your password, ask the person who runs Pegasus to reset it.",
        "wait",
    ),
    "upload.expired": LearnerMessage(
        "This upload was left unfinished too long and has been removed.",
        "Choose the file again and upload it; it starts from the beginning.",
        "upload_again",
    ),
    "upload.offset_mismatch": LearnerMessage(
        "The upload and the server got out of step.",
        "Press Try again. The upload continues from what the server already has.",
        "retry",
    ),
    "upload.busy": LearnerMessage(
        "This upload is already being sent, perhaps from another tab.",
        "Close the other tab, wait a moment, then press Try again.",
        "wait",
    ),
    "upload.invalid_header": LearnerMessage(
        "The upload was refused because the browser sent it in a way Pegasus does not accept.",
        "Reload the page and upload again. If it keeps happening, try another browser.",
        "reload",
    ),
    "upload.content_type": LearnerMessage(
        "The upload was refused because the browser sent it in a way Pegasus does not accept.",
        "Reload the page and upload again. If it keeps happening, try another browser.",
        "reload",
    ),
    "service.busy": LearnerMessage(
        "Pegasus is busy right now.",
        "Wait a few seconds and try again.",
        "wait",
    ),
    "http.error": LearnerMessage(
        "The request did not work.",
        "Reload the page and try again.",
        "reload",
    ),
}

#: Codes a learner never meets (operators and the CLI see them), with the reason.
NOT_LEARNER_FACING: dict[str, str] = {
    "pegasus.error": "the abstract root; every raised error has a more specific code",
    "config.invalid": "refused at start-up; the operator sees it in the terminal",
    "slo.invalid": "the operator's SLO file; `pegasus slo render` reports it",
    "backup.failed": "the operator's `pegasus backup` command; the terminal (or --json) shows it",
    "backup.corrupt": "the operator's `pegasus backup verify|restore`; the terminal shows it",
    "backup.location_invalid": "the operator's `pegasus backup` command; the terminal shows it",
    "backup.target_not_empty": "the operator's `pegasus backup restore`; the terminal shows it",
    "backup.tool_failed": "pg_dump/pg_restore/pg_amcheck under `pegasus backup`; in the terminal",
    "auth.token_revoked": "API clients only (scripts use tokens, pages use the session cookie)",
    "auth.token_expired": "API clients only (scripts use tokens, pages use the session cookie)",
}

MESSAGES: dict[str, LearnerMessage] = {**STAGE_MESSAGES, **REQUEST_MESSAGES}

FALLBACK = LearnerMessage(
    "Something went wrong.",
    "Reload the page and try again. If it keeps happening, tell the person who runs Pegasus.",
    "reload",
)


def message_for(code: str | None) -> LearnerMessage:
    """The learner's message for ``code``: its own entry, else its family's (the part
    before the first dot, e.g. ``media`` for ``media.new_case``), else ``FALLBACK``."""
    if not code:
        return FALLBACK
    if code in MESSAGES:
        return MESSAGES[code]
    return MESSAGES.get(_FAMILIES.get(code.split(".", 1)[0], ""), FALLBACK)


def stage_message_for(code: str | None) -> LearnerMessage:
    """The message for a failed processing step. A stage records whatever error stopped it;
    a code that is not a stage's own (say a storage rule's ``request.invalid``) must not
    read as if the learner typed something wrong, so it falls back to ``internal.error``."""
    if code in STAGE_MESSAGES:
        return STAGE_MESSAGES[code]
    family = _FAMILIES.get((code or "").split(".", 1)[0], "")
    return STAGE_MESSAGES.get(family, STAGE_MESSAGES[STAGE_FALLBACK])


#: What a failed step says when its code has no stage message of its own.
STAGE_FALLBACK = "internal.error"

_FAMILIES = {
    "media": "media.invalid",
    "transcription": "transcription.failed",
    "generation": "generation.failed",
    "export": "export.failed",
    "storage": "storage.unavailable",
    "worker": "worker.lost",
    "auth": "auth.forbidden",
}


def client_table() -> dict[str, object]:
    """The table for the pages' scripts (embedded as JSON), so they never hold a copy:
    ``{"codes": {code: {happened, todo, action}}, "families": {...}, "fallback": {...},
    "stageCodes": [...], "stageFallback": code}``."""
    return {
        "codes": {code: msg.as_dict() for code, msg in MESSAGES.items()},
        "families": dict(_FAMILIES),
        "fallback": FALLBACK.as_dict(),
        "stageCodes": sorted(STAGE_MESSAGES),
        "stageFallback": STAGE_FALLBACK,
    }


def render_markdown() -> str:
    """``docs/ux/failure-states.md``: every learner-visible failure state, from the table."""
    lines = [
        "# Failure states a learner can meet",
        "",
        "Generated from `src/pegasus/web/messages.py` by `render_markdown()`; "
        "`tests/unit/test_web_messages.py` fails when the two disagree. To refresh:",
        "",
        "```",
        ".venv/bin/python -c 'from pegasus.web.messages import render_markdown; "
        'print(render_markdown(), end="")\' > docs/ux/failure-states.md',
        "```",
        "",
        "Pages show the two sentences for the error code, never an exception's or a "
        "provider's text. *Action* is what the page offers next to the message.",
        "",
        "## On the lecture's status page (a processing step failed)",
        "",
        "A failed step shows its name, these sentences and a Retry button that runs the "
        "lecture again from that step, without a new upload.",
        "",
    ]
    lines += _table(STAGE_MESSAGES)
    lines += [
        "",
        "## While doing something (forms, uploads, buttons)",
        "",
    ]
    lines += _table(REQUEST_MESSAGES)
    lines += [
        "",
        "## Anything else",
        "",
        f"A code without an entry shows its family's message (`media.*` as `media.invalid`, "
        f"`storage.*` as `storage.unavailable`, ...), or: {FALLBACK.happened} {FALLBACK.todo}",
        "",
        f"A processing step that stopped with a code that is not a step's own shows "
        f"`{STAGE_FALLBACK}`'s message, never a form's.",
        "",
        "Codes a learner never meets:",
        "",
    ]
    lines += [f"- `{code}`: {why}" for code, why in sorted(NOT_LEARNER_FACING.items())]
    return "\n".join(lines) + "\n"


def _table(messages: dict[str, LearnerMessage]) -> list[str]:
    rows = ["| code | what happened | what the learner can do | action |", "|---|---|---|---|"]
    for code, msg in messages.items():
        rows.append(f"| `{code}` | {msg.happened} | {msg.todo} | {msg.action} |")
    return rows
