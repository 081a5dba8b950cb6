"""Secrets are hidden in every encoding a server may echo them in, and in URLs."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from pegasus.redaction import MASK, redact, redact_url

SECRET = 'sk-"test"/key+with spaces&ünï\\42'


@pytest.mark.parametrize(
    "echoed",
    [
        SECRET,
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        quote(SECRET, safe=""),
        quote(SECRET, safe="").lower(),
        quote_plus(SECRET, safe=""),
        html.escape(SECRET),
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(b"user:" + SECRET.encode()).decode(),
        base64.b64encode(b"u:" + SECRET.encode() + b"!").decode(),
        base64.urlsafe_b64encode(b"x" + SECRET.encode()).decode(),
    ],
    ids=[
        "raw",
        "json",
        "json-unicode",
        "percent",
        "percent-lower",
        "plus",
        "html",
        "base64",
        "base64-offset-2",
        "base64-offset-1",
        "base64-urlsafe",
    ],
)
def test_every_encoding_of_the_secret_is_masked(echoed: str) -> None:
    text = f'{{"error": {{"message": "Invalid key: {echoed}"}}}}'

    shown = redact(text, [SECRET])

    assert MASK in shown
    assert echoed not in shown
    assert shown.startswith('{"error": {"message": "Invalid key: ')
    # What is left of a base64 form cannot be decoded back to most of the secret.
    assert "sk-" not in shown
    assert "spaces" not in shown


def test_nothing_else_is_changed_and_no_secret_means_no_change() -> None:
    assert redact("HTTP 401: bad key", [None, ""]) == "HTTP 401: bad key"
    assert redact("HTTP 401: bad key", ["another-secret-1"]) == "HTTP 401: bad key"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://pegasus:hunter22@db:5432/pegasus",
            "postgresql+psycopg://pegasus:***@db:5432/pegasus",
        ),
        ("redis://:p@ss/w0rd@redis:6379/0", "redis://:***@redis:6379/0"),
        (
            "postgresql://db/pegasus?user=app&password=hunter22&sslmode=require",
            "postgresql://db/pegasus?user=app&password=***&sslmode=require",
        ),
        (
            "https://llm.example/v1?api_key=sk-1&Token=t&X-Amz-Signature=s&sslpassword=p",
            "https://llm.example/v1?api_key=***&Token=***&X-Amz-Signature=***&sslpassword=***",
        ),
        ("http://minio:9000", "http://minio:9000"),
        ("sqlite:///var/pegasus.db?mode=ro", "sqlite:///var/pegasus.db?mode=ro"),
    ],
)
def test_urls_hide_passwords_and_secret_query_parameters(url: str, shown: str) -> None:
    assert redact_url(url) == shown
