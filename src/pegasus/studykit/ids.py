"""Stable ids for generated items: the same lecture gives the same ids on every run."""

from __future__ import annotations

import hashlib

ID_LENGTH = 12


def stable_id(*parts: str) -> str:
    """The first 12 hex digits of the SHA-1 of ``parts`` (joined by a unit separator)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False)
    return digest.hexdigest()[:ID_LENGTH]
