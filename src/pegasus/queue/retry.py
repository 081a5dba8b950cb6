"""Retry policy for transient stage failures: exponential backoff with jitter."""

from __future__ import annotations

import random

from pegasus.config import QueueSettings


def backoff_seconds(
    attempt: int,
    settings: QueueSettings,
    rng: random.Random,
    *,
    hint_seconds: float | None = None,
) -> float:
    """Delay before attempt ``attempt + 1``: "equal jitter" over an exponential ceiling.

    The ceiling doubles per attempt from ``retry_base_seconds`` up to ``retry_max_seconds``;
    the delay is half the ceiling plus a uniform random half, so retries of many lectures
    that failed together (storage outage) spread out instead of arriving at once.
    ``hint_seconds`` is what the failing service asked for (an error's
    ``retry_after_seconds``, from a Retry-After): the delay is at least that, capped at
    ``retry_max_seconds``. This is the one backoff in Pegasus; clients never sleep.
    """
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if hint_seconds is not None:
        delay = max(delay, min(hint_seconds, settings.retry_max_seconds))
    return float(delay)


def may_retry(attempt: int, settings: QueueSettings) -> bool:
    """Whether a transient failure of attempt ``attempt`` gets another attempt."""
    return attempt < settings.max_attempts
