"""API tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "sl_"


def generate_token() -> str:
    """A new API token (``sl_`` + 43 URL-safe characters, 256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token. SHA-256 suffices: tokens are random, not passwords."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    """The first characters of a token, kept so users can tell their tokens apart."""
    return token[:10]
