"""Retry policy for transient stage failures: exponential backoff with jitter."""

from __future__ import annotations

import random

from pegasus.config import QueueSettings


def backoff_seconds(attempt: int, settings: QueueSettings, rng: random.Random) -> float:
    """Delay before attempt ``attempt + 1``: "equal jitter" over an exponential ceiling.

    The ceiling doubles per attempt from ``retry_base_seconds`` up to ``retry_max_seconds``;
    the delay is half the ceiling plus a uniform random half, so retries of many lectures
    that failed together (storage outage) spread out instead of arriving at once.
    """
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


def may_retry(attempt: int, settings: QueueSettings) -> bool:
    """Whether a transient failure of attempt ``attempt`` gets another attempt."""
    return attempt < settings.max_attempts
