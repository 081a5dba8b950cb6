"""Password hashing (argon2) and API token generation and hashing."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

TOKEN_PREFIX = "pgs_"  # nosec B105  # the public prefix of every token


#: How stale an API token's last use or a browser session's last sight may get before it is
#: written again: most requests then only read, and the write lock is rarely taken.
USE_RECORD_RESOLUTION = timedelta(minutes=5)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; never raises on a mismatch."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class NewToken:
    """A freshly minted token: ``secret`` is shown once, only ``digest`` is stored."""

    secret: str
    digest: str
    prefix: str


def hash_token(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 bits of randomness, so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token() -> NewToken:
    """A new random API token."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return NewToken(secret=secret, digest=hash_token(secret), prefix=secret[:10])
