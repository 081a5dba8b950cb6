"""Moved to ``pegasus_testkit.fake_llm`` (tools share it); new code imports it from there."""

from pegasus_testkit.fake_llm import (
    INVENTED_QUOTE,
    PHANTOM_FRONT,
    SCHEMA_INVALID_ANSWER,
    FakeLlm,
    RecordedRequest,
    Reply,
    running_fake_llm,
    valid_answer,
)

__all__ = [
    "INVENTED_QUOTE",
    "PHANTOM_FRONT",
    "SCHEMA_INVALID_ANSWER",
    "FakeLlm",
    "RecordedRequest",
    "Reply",
    "running_fake_llm",
    "valid_answer",
]
