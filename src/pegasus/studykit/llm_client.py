"""One chat completion from an OpenAI-compatible endpoint; it never sleeps.

Pegasus has one backoff policy, the queue's (``pegasus.queue.retry``). A busy or failing
answer (408, 409, 425, 429, 5xx), a timeout, or a connection that keeps failing raises the
transient ``LlmUnavailableError`` at once, and the runner schedules the stage again with
that policy; a ``Retry-After`` is only reported, capped, as ``retry_after_seconds`` in the
error's context and message. Only a connection that fails before any answer is sent again
at once, up to ``LlmConfig.max_retries`` times. Any other refusal (400, 401, 404, ...) is
``LlmRefusedError``, which is not retried.

The API key is sent only in the Authorization header, never logged. What the provider says
about a refused request is logged (every encoding of the key masked) and never put in the
error's message, which learners may see.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from pegasus.errors import LlmRefusedError, LlmUnavailableError
from pegasus.redaction import redact
from pegasus.studykit.llm_config import LlmConfig

#: A Retry-After longer than this is reported as this: it is a hint, not a promise.
MAX_RETRY_AFTER_SECONDS = 120.0
#: Answers that mean "not now" rather than "never": the queue retries them.
BUSY_STATUS = frozenset({408, 409, 425, 429})

Messages = list[dict[str, str]]
#: Sends one prompt and returns the answer's text.
Send = Callable[[Messages], str]


class ChatClient:
    """Chat completions from ``config``'s endpoint (see the module doc)."""

    def __init__(self, config: LlmConfig, *, client: httpx.Client | None = None) -> None:
        self.config = config
        self._client = client
        # Per instance, not per module: a logger cached before logging was configured would
        # keep writing to the old destination.
        self._log = structlog.get_logger(__name__)

    @contextlib.contextmanager
    def connected(self) -> Iterator[Send]:
        """A ``Send`` on one HTTP connection pool (the given client's, or a new one)."""
        if self._client is not None:
            yield functools.partial(self._complete, self._client)
            return
        with httpx.Client(timeout=self.config.timeout_seconds) as client:
            yield functools.partial(self._complete, client)

    def _complete(self, client: httpx.Client, messages: Messages) -> str:
        config = self.config
        body: dict[str, Any] = {
            "model": config.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        headers = {"Accept": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        attempts = config.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = client.post(
                    config.completions_url,
                    json=body,
                    headers=headers,
                    timeout=config.timeout_seconds,
                )
            except httpx.TimeoutException:
                raise self._unavailable(f"no answer within {config.timeout_seconds:g} s") from None
            except httpx.TransportError as exc:
                problem = f"connection failed: {type(exc).__name__}"
                if attempt == attempts:
                    raise self._unavailable(
                        f"{problem}, {attempts} attempt{'s' if attempts > 1 else ''}"
                    ) from None
                self._log.warning(
                    "studykit.llm.resending", host=config.host, problem=problem, attempt=attempt
                )
                continue
            return self._answer(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, response: httpx.Response) -> str:
        status = response.status_code
        if status == 200:
            return _content(response)
        if status in BUSY_STATUS or status >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            asked = f", asked to wait {wait:g} s" if wait is not None else ""
            raise self._unavailable(
                f"HTTP {status}{asked}", status=status, retry_after_seconds=wait
            )
        # The provider's words go to the operator's log only (redacted): they may echo the
        # key or the prompt, and learners see the error's message.
        self._log.warning(
            "studykit.llm.refused",
            host=self.config.host,
            status=status,
            response=redact(response.text.strip(), [self.config.api_key])[:500],
        )
        raise LlmRefusedError(
            f"The study-kit model at {self.config.host} refused the request (HTTP {status}). "
            "Check the LLM base URL, model and key, or switch to the offline generator.",
            host=self.config.host,
            model=self.config.model,
            status=status,
        )

    def _unavailable(self, problem: str, **context: Any) -> LlmUnavailableError:
        self._log.warning(
            "studykit.llm.unavailable", host=self.config.host, problem=problem, **context
        )
        return LlmUnavailableError(
            f"The study-kit model at {self.config.host} did not answer ({problem}); Pegasus "
            "will try again later, or switch to the offline generator.",
            host=self.config.host,
            model=self.config.model,
            **context,
        )


def _content(response: httpx.Response) -> str:
    """The first choice's message content, or an invalid-JSON marker the caller rejects."""
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        return "<the response is not an OpenAI chat completion>"
    return content if isinstance(content, str) else "<the message has no text content>"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a Retry-After header (seconds or an HTTP date) asks for, capped; None when
    there is none or it cannot be read."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return round(min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS), 3)
