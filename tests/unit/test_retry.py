"""Backoff with jitter: bounded, growing, capped, spread out."""

from __future__ import annotations

import random

from pegasus.config import QueueSettings
from pegasus.queue.retry import backoff_seconds, may_retry


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    settings = QueueSettings(retry_base_seconds=2, retry_max_seconds=300)
    rng = random.Random(42)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16)]:
        delays = [backoff_seconds(attempt, settings, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4, "jitter must spread retries"


def test_backoff_is_capped() -> None:
    settings = QueueSettings(retry_base_seconds=2, retry_max_seconds=30)
    delays = [backoff_seconds(20, settings, random.Random(i)) for i in range(50)]
    assert max(delays) <= 30
    assert min(delays) >= 15


def test_attempts_are_limited() -> None:
    settings = QueueSettings(max_attempts=3)
    assert [may_retry(a, settings) for a in (1, 2, 3, 4)] == [True, True, False, False]
