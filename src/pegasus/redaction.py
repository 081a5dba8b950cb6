"""Hiding secrets in text Pegasus shows or logs: the one place redaction is done.

``redact(text, secrets)`` replaces every encoding of each secret a server or library may
echo back: the raw value, JSON-escaped (with and without ``\\uXXXX`` for non-ASCII),
percent-encoded (``quote`` and ``quote_plus``, upper- and lower-case hex), HTML-escaped, and
base64 (standard and URL-safe, at each of the three byte alignments, so the secret is found
inside a longer encoded value such as ``user:secret`` in a Basic header).

``redact_url(url)`` masks the password of a URL's user-info and the values of query
parameters whose names look secret (``password``, ``api_key``, ``token``, ``sslpassword``...).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: A secret shorter than this is not searched for in base64 (too many false matches).
MIN_BASE64_SECRET_CHARS = 8
#: A query parameter whose lower-cased name contains one of these holds a secret.
SECRET_PARAMETER_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "auth",
    "signature",
    "session",
)
_QUERY_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#]+)=(?P<value>[^&;#]*)")
#: Up to the last "@" before the query: a password may hold an unescaped "/" or "@" (when
#: there is no user-info, a rare "@" in the path masks a little more than needed).
_USERINFO_PASSWORD = re.compile(r"\A(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@]*:)[^?#]*@")


def secret_forms(secret: str) -> set[str]:
    """Every encoding of ``secret`` that ``redact`` looks for (never the empty string)."""
    if not secret:
        return set()
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        html.escape(secret),
    }
    forms |= {_lower_hex(form) for form in list(forms) if "%" in form}
    if len(secret) >= MIN_BASE64_SECRET_CHARS:
        forms |= _base64_cores(secret.encode())
    return {form for form in forms if form}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every (non-empty) secret replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(form, MASK)
    return text


def is_secret_name(name: str) -> bool:
    """Whether a parameter or field called ``name`` holds a secret."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAMETER_WORDS)


def redact_url(url: str) -> str:
    """``url`` with its user-info password and secret-looking query values masked."""
    masked = _USERINFO_PASSWORD.sub(lambda m: m["head"] + MASK + "@", url, count=1)

    def parameter(match: re.Match[str]) -> str:
        if not is_secret_name(match["name"]):
            return match[0]
        return f"{match['lead']}{match['name']}={MASK}"

    head, sep, query = masked.partition("?")
    if not sep:
        return masked
    return head + _QUERY_PARAMETER.sub(parameter, "?" + query)


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded)


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on ``raw``, wherever it sits in the input."""
    cores: set[str] = set()
    for offset in range(3):
        padded = b"\0" * offset + raw
        whole_groups = (len(padded) // 3) * 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(padded[:whole_groups]).decode("ascii")
            core = encoded[4:] if offset else encoded  # drop the group holding the padding
            if len(core) >= MIN_BASE64_SECRET_CHARS:
                cores.add(core)
    return cores
