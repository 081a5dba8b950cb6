"""Where the study-kit model is and how to talk to it (checked when the generator is built)."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from pegasus.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class LlmConfig:
    """An OpenAI-compatible chat-completions endpoint and the map-reduce window sizes."""

    base_url: str
    model: str
    api_key: str | None = dataclasses.field(repr=False)
    timeout_seconds: float = 60
    #: Immediate re-sends of a request whose connection failed before any answer. Busy or
    #: failing answers (429, 5xx) and timeouts are retried by the queue, never here.
    max_retries: int = 3
    window_seconds: float = 600
    max_context_chars: int = 24000

    @property
    def host(self) -> str:
        """``host[:port]`` of the endpoint, for messages and logs (never the key)."""
        parts = urlsplit(self.base_url)
        return (parts.hostname or "") + (f":{parts.port}" if parts.port else "")

    @property
    def completions_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def check(self) -> None:
        """Refuse a configuration that can never work (``ConfigError``)."""
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                "The LLM base URL must be an http(s) URL such as https://api.example.com/v1.",
                base_url=self.base_url,
            )
        if self.max_retries < 0 or self.timeout_seconds <= 0 or self.window_seconds <= 0:
            raise ConfigError(
                "LLM max_retries must be 0 or more; timeout_seconds and window_seconds above 0."
            )
