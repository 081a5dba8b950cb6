"""The one tree of Pegasus errors.

Every error has a stable dotted ``code`` that clients and metrics may rely on, a human
``message`` (the class docstring unless one is given) and ``transient``: whether running the
same work again later may succeed. No HTTP status lives here; ``pegasus.app`` maps codes to
responses.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PegasusError(Exception):
    """Something went wrong in Pegasus."""

    code: ClassVar[str] = "pegasus.error"
    transient: ClassVar[bool] = False

    def __init__(self, message: str | None = None, **context: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.context = context
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- request and domain errors -------------------------------------------------------------


class NotFoundError(PegasusError):
    """The requested item does not exist or is not yours."""

    code = "not_found"


class ConflictError(PegasusError):
    """The request conflicts with the current state."""

    code = "conflict"


class NothingToRetryError(ConflictError):
    """This lecture has no failed stage to retry."""

    code = "lecture.nothing_to_retry"


class InvalidRequestError(PegasusError):
    """The request is not valid."""

    code = "request.invalid"


class RequestTooLargeError(InvalidRequestError):
    """The request body is larger than this server accepts here."""

    code = "request.too_large"


class UnknownPresetError(InvalidRequestError):
    """That preset does not exist. List the presets with GET /api/v1/presets."""

    code = "preset.unknown"


class AuthenticationError(PegasusError):
    """Sign in first: send 'Authorization: Bearer <token>'."""

    code = "auth.required"


class PermissionDeniedError(PegasusError):
    """You are not allowed to do that."""

    code = "auth.forbidden"


class CsrfError(PermissionDeniedError):
    """The page's security token is missing or out of date. Reload the page and try again."""

    code = "auth.csrf"


class SignupClosedError(PermissionDeniedError):
    """Sign-up is closed on this server. Ask its administrator for an account."""

    code = "signup.closed"


class InvitationInvalidError(ConflictError):
    """This invitation link was used already, has expired or is mistyped. Ask for a new one."""

    code = "invitation.invalid"


class WrongPasswordError(InvalidRequestError):
    """The current password is not right. Type it again."""

    code = "auth.wrong_password"


class UserExistsError(ConflictError):
    """A user with that email already exists."""

    code = "user.exists"


class UserDeletedError(ConflictError):
    """This account was deleted; it cannot be enabled again."""

    code = "user.deleted"


class TokenRevokedError(AuthenticationError):
    """This API token was revoked. Create a new one (Account page or `pegasus tokens create`)."""

    code = "auth.token_revoked"


class TokenExpiredError(AuthenticationError):
    """This API token has expired. Create a new one (Account page or `pegasus tokens create`)."""

    code = "auth.token_expired"


class AccountDisabledError(AuthenticationError):
    """This account is disabled. Ask the person who runs Pegasus to enable it again."""

    code = "auth.account_disabled"


class SignInRateLimitedError(PegasusError):
    """Too many failed sign-ins from this account or this network. Wait, then try again."""

    code = "auth.rate_limited"

    def __init__(self, message: str | None = None, *, retry_after_seconds: int = 60) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        #: Seconds until a sign-in may be tried again (sent as ``Retry-After``).
        self.retry_after_seconds = max(1, retry_after_seconds)


class DeletionPendingError(ConflictError):
    """This deletion is still in progress: its receipt is written once everything is removed
    and checked. Try again in a minute."""

    code = "deletion.pending"


class CannotDeleteSelfError(ConflictError):
    """You cannot delete your own account here; ask another admin to do it."""

    code = "user.cannot_delete_self"


class EditConflictError(ConflictError):
    """Someone else changed this since you opened it; reload to see their version, then
    make your change again."""

    code = "edit.conflict"


class ServiceBusyError(PegasusError):
    """Pegasus is busy right now. Wait a few seconds and try again."""

    code = "service.busy"
    transient = True

    #: Seconds a client should wait before trying again (sent as ``Retry-After``).
    retry_after_seconds: ClassVar[int] = 2


class UploadGoneError(NotFoundError):
    """This upload expired or was removed before it finished. Start the upload again."""

    code = "upload.expired"


class UploadOffsetMismatchError(ConflictError):
    """The server holds a different number of bytes of this upload than the request says.
    Ask for the upload's offset (HEAD) and continue from there."""

    code = "upload.offset_mismatch"


class UploadBusyError(ConflictError):
    """Another request is adding to this upload right now. Wait a moment, ask for the
    upload's offset (HEAD) and continue from there."""

    code = "upload.busy"


class UploadHeaderError(InvalidRequestError):
    """A tus header of this request is missing or not valid."""

    code = "upload.invalid_header"


class UploadContentTypeError(InvalidRequestError):
    """Send upload bytes with 'Content-Type: application/offset+octet-stream'."""

    code = "upload.content_type"


class ConfigError(PegasusError):
    """The configuration is not valid."""

    code = "config.invalid"


class SloFileError(ConfigError):
    """The SLO file is not valid."""

    code = "slo.invalid"


# --- pipeline errors -----------------------------------------------------------------------


class PipelineError(PegasusError):
    """A pipeline stage failed."""

    code = "pipeline.failed"


class MediaError(PipelineError):
    """The recording cannot be processed."""

    code = "media.invalid"


class EmptyMediaError(MediaError):
    """The file is empty. Record or pick the lecture again and upload it once more."""

    code = "media.empty"


class UnsupportedMediaError(MediaError):
    """This file is not an audio or video recording Pegasus can read. Upload m4a, mp3, wav,
    ogg, webm, flac or mp4."""

    code = "media.unsupported_format"


class CorruptMediaError(MediaError):
    """The recording is damaged or incomplete (was the upload cut off?). Upload it again."""

    code = "media.corrupt"


class NoAudioError(MediaError):
    """The file has no audio track. Upload a recording with sound."""

    code = "media.no_audio"


class MediaTooLongError(MediaError):
    """The recording is longer than this server accepts. Split it and upload the parts."""

    code = "media.too_long"


class MediaTooLargeError(MediaError):
    """The file is larger than this server accepts."""

    code = "media.too_large"


class TranscriptionError(PipelineError):
    """The recording could not be transcribed."""

    code = "transcription.failed"


class ModelUnavailableError(TranscriptionError):
    """The speech recognition model is missing or unreadable on this server."""

    code = "transcription.model_unavailable"


class GenerationError(PipelineError):
    """The study kit could not be generated from the transcript."""

    code = "generation.failed"


class LlmUnavailableError(GenerationError):
    """The study-kit model did not answer; Pegasus will try again later. To stop waiting
    for it, switch to the offline generator."""

    code = "generation.llm_unavailable"
    # Busy (429), down (5xx), slow or unreachable: the queue's retry policy runs the stage
    # again later (``pegasus.queue.retry``); the client itself never waits.
    transient = True


class LlmRefusedError(GenerationError):
    """The study-kit model refused the request. Check the LLM base URL, model and key, or
    switch to the offline generator."""

    code = "generation.llm_refused"


class LlmInvalidOutputError(GenerationError):
    """The study-kit model answered with something that is not a valid study kit."""

    code = "generation.invalid_output"


class StorageUnavailableError(PipelineError):
    """File storage is unreachable right now; Pegasus will try again."""

    code = "storage.unavailable"
    transient = True


class StorageFullError(StorageUnavailableError):
    """File storage is full, so this step could not save its work. Pegasus will try again."""

    code = "storage.full"
    # Transient like any storage fault: once whoever runs Pegasus frees space or grows the
    # disk, the queue's retry (or the learner's Retry) finishes the step.


class ObjectMissingError(PipelineError):
    """A stored file this step needs is missing or unreadable."""

    code = "storage.object_missing"


class DatabaseUnavailableError(PipelineError):
    """The database is unreachable right now; Pegasus will try again."""

    code = "database.unavailable"
    # Connection lost, server restarting, a lock or serialization conflict: the queue's
    # retry policy runs the stage again later (``pegasus.queue.retry``).
    transient = True


class WorkerLostError(PipelineError):
    """The worker processing this step stopped; Pegasus handed it to another worker."""

    code = "worker.lost"
    transient = True


class LeaseLostError(PipelineError):
    """This worker's lease on the stage expired; another worker owns the stage now."""

    code = "worker.lease_lost"


class LectureDeletedError(PipelineError):
    """This lecture was deleted; its processing stopped."""

    code = "lecture.deleted"


class InternalStageError(PipelineError):
    """Something went wrong on our side while processing this step. Retry the lecture."""

    code = "internal.error"


#: SQLSTATEs of PostgreSQL failures that pass: serialization failure and deadlock, the
#: server shutting down or starting up, a statement or lock timeout, out of resources
#: (class 53) and every connection exception (class 08).
TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "57P01", "57P02", "57P03", "57014", "55P03", "53000", "53100", "53200"}
    | {"53300", "53400"}
)
#: What SQLite says when another connection holds the database or the file is unreachable.
_SQLITE_TRANSIENT_MESSAGES = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
)


def database_unavailable(exc: BaseException) -> DatabaseUnavailableError | None:
    """The ``DatabaseUnavailableError`` that ``exc`` means, or None when it is not a database
    fault that may pass: a lost or refused connection (SQLAlchemy ``OperationalError``,
    ``DisconnectionError``, ``InterfaceError`` of a closed connection, psycopg's own
    ``OperationalError``), an exhausted connection pool, SQLite's "database is locked", or
    a serialization failure or deadlock (SQLSTATE 40001/40P01). A constraint violation, a
    missing table or a bad statement is a bug and stays what it is."""
    if isinstance(exc, DatabaseUnavailableError):
        return exc
    from sqlalchemy import exc as sa_exc  # the error tree itself needs no database library

    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return DatabaseUnavailableError(error=type(exc).__name__)
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or _transient_driver_error(exc.orig):
            return DatabaseUnavailableError(error=type(exc.orig).__name__)
        return None
    if _transient_driver_error(exc):
        return DatabaseUnavailableError(error=type(exc).__name__)
    return None


def _transient_driver_error(error: BaseException | None) -> bool:
    """Whether a DB-API driver's own exception (psycopg, sqlite3) is a fault that passes."""
    if error is None:
        return False
    module, name = type(error).__module__, type(error).__name__
    sqlstate = getattr(error, "sqlstate", None)
    if module.startswith("psycopg"):
        if sqlstate:
            return sqlstate.startswith("08") or sqlstate in TRANSIENT_SQLSTATES
        # No SQLSTATE: the client could not reach the server or lost the connection.
        names = {cls.__name__ for cls in type(error).__mro__}
        return bool(names & {"OperationalError", "InterfaceError"})
    if module == "sqlite3" and name == "OperationalError":
        text = str(error).lower()
        return any(message in text for message in _SQLITE_TRANSIENT_MESSAGES)
    return False


def transient_error_codes() -> list[str]:
    """Codes of every transient error, in a stable order (retry metrics start at zero)."""
    found: set[str] = set()
    pending: list[type[PegasusError]] = [PegasusError]
    while pending:
        cls = pending.pop()
        if cls.transient:
            found.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(found)


# --- quoting user input and sizes in messages ---------------------------------------------

#: The most characters of a user's value an error message quotes.
QUOTED_VALUE_CHARS = 80


def quoted(value: object, limit: int = QUOTED_VALUE_CHARS) -> str:
    """``repr`` of a user-supplied value for an error message, shortened to about ``limit``
    characters with an ellipsis, so a huge value is never echoed back whole."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + "…"


def format_size(size_bytes: int) -> str:
    """A byte count for people: ``512 bytes``, ``292.97 KiB``, ``8 MiB``, ``1.5 GiB``."""
    if size_bytes < 1024:
        return f"{size_bytes} byte{'' if size_bytes == 1 else 's'}"
    value = float(size_bytes)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.2f}".rstrip("0").rstrip(".") + f" {unit}"


def ensure_no_nul(**values: str | None) -> None:
    """Refuse text holding a NUL character (``InvalidRequestError``): PostgreSQL cannot store
    it and SQLite would, so it is refused everywhere before anything is stored."""
    for name, value in values.items():
        if value and "\x00" in value:
            raise InvalidRequestError(
                f"The {name.replace('_', ' ')} holds a NUL character (\\0). "
                "Remove it and try again."
            )


def too_large_message(max_bytes: int) -> str:
    """What a learner reads when an upload is over the server's limit of ``max_bytes``."""
    return (
        f"The file is larger than this server accepts ({format_size(max_bytes)}). "
        "Split the recording or compress it and upload again."
    )


def error_body(code: str, message: str, request_id: object = None) -> dict[str, Any]:
    """The JSON every error answer carries: ``{"error": {"code", "message", "request_id"?}}``
    (the request id only when there is one)."""
    error: dict[str, str] = {"code": code, "message": message}
    if request_id:
        error["request_id"] = str(request_id)
    return {"error": error}
