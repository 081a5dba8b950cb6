"""The learner's message table covers every error code and agrees with its document."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pegasus
from pegasus.errors import PegasusError
from pegasus.web import messages
from pegasus.web.messages import (
    FALLBACK,
    MESSAGES,
    NOT_LEARNER_FACING,
    STAGE_MESSAGES,
    message_for,
    render_markdown,
    stage_message_for,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "ux" / "failure-states.md"


def _every_error_code() -> set[str]:
    """Codes of every PegasusError subclass defined anywhere in the package."""
    for module in pkgutil.walk_packages(pegasus.__path__, "pegasus."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    codes: set[str] = set()
    pending: list[type[PegasusError]] = [PegasusError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes


def test_every_error_code_has_a_learner_message_or_a_reason_not_to() -> None:
    codes = _every_error_code()
    assert "media.corrupt" in codes
    assert "generation.llm_unavailable" in codes  # defined outside errors.py
    missing = sorted(codes - set(MESSAGES) - set(NOT_LEARNER_FACING))
    assert missing == [], f"add these codes to pegasus.web.messages: {missing}"
    assert not set(MESSAGES) & set(NOT_LEARNER_FACING)


def test_every_pipeline_error_is_a_stage_message() -> None:
    from pegasus.errors import PipelineError

    pending: list[type[PegasusError]] = [PipelineError]
    stage_codes: set[str] = set()
    while pending:
        cls = pending.pop()
        stage_codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    assert sorted(stage_codes - set(STAGE_MESSAGES)) == []


def test_messages_are_plain_sentences_without_internal_words() -> None:
    for code, msg in MESSAGES.items():
        for text in (msg.happened, msg.todo):
            assert text.endswith("."), (code, text)
            assert text[0].isupper(), (code, text)
            for jargon in ("exception", "traceback", "stage_run", "HTTP", "500", "None"):
                assert jargon not in text, (code, text)


def test_unknown_codes_fall_back_by_family_then_generally() -> None:
    assert message_for("media.corrupt") is MESSAGES["media.corrupt"]
    assert message_for("media.some_new_case") is MESSAGES["media.invalid"]
    assert message_for("storage.whatever") is MESSAGES["storage.unavailable"]
    assert message_for("no.such.code") is FALLBACK
    assert message_for(None) is FALLBACK


def test_a_step_never_shows_a_form_message() -> None:
    assert stage_message_for("storage.unavailable") is STAGE_MESSAGES["storage.unavailable"]
    assert stage_message_for("media.new_case") is STAGE_MESSAGES["media.invalid"]
    # A storage rule's request.invalid stopped the step: not "what you entered".
    assert stage_message_for("request.invalid") is STAGE_MESSAGES["internal.error"]
    assert stage_message_for("auth.forbidden") is STAGE_MESSAGES["internal.error"]
    assert stage_message_for(None) is STAGE_MESSAGES["internal.error"]


def test_failure_states_document_is_rendered_from_the_table() -> None:
    rendered = render_markdown()
    for code, msg in MESSAGES.items():
        assert f"| `{code}` | {msg.happened} | {msg.todo} |" in rendered
    assert DOC.read_text(encoding="utf-8") == rendered, (
        "docs/ux/failure-states.md is stale; regenerate it with the command in "
        f"{messages.__name__}.render_markdown's output"
    )
