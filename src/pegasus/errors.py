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


class UnknownPresetError(InvalidRequestError):
    """That preset does not exist. List the presets with GET /api/v1/presets."""

    code = "preset.unknown"


class AuthenticationError(PegasusError):
    """Sign in first: send 'Authorization: Bearer <token>'."""

    code = "auth.required"


class PermissionDeniedError(PegasusError):
    """You are not allowed to do that."""

    code = "auth.forbidden"


class UserExistsError(ConflictError):
    """A user with that email already exists."""

    code = "user.exists"


class ConfigError(PegasusError):
    """The configuration is not valid."""

    code = "config.invalid"


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


class ExportError(PipelineError):
    """The exports could not be written."""

    code = "export.failed"


class StorageUnavailableError(PipelineError):
    """File storage is unreachable right now; Pegasus will try again."""

    code = "storage.unavailable"
    transient = True


class ObjectMissingError(PipelineError):
    """A stored file this step needs is missing."""

    code = "storage.object_missing"


class WorkerLostError(PipelineError):
    """The worker processing this step stopped; Pegasus handed it to another worker."""

    code = "worker.lost"
    transient = True


class DatabaseUnavailableError(PipelineError):
    """The database is unreachable right now; Pegasus will try again."""

    code = "database.unavailable"
    transient = True


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
