"""API tokens: random, shown once, stored only as an HMAC-SHA256 keyed with a server pepper.

The pepper lives outside the metadata store (``SYNCLINE_TOKEN_PEPPER``, else a file created in
the data directory on first start), so a leaked database or backup alone cannot be used to
check guesses. Tokens are found by their non-secret prefix and then compared in constant time.
Hashes written before the pepper existed (plain SHA-256) are still accepted and re-hashed on
first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

TOKEN_PREFIX = "sl_"
PEPPER_FILE = "token_pepper.key"


def generate_token() -> str:
    """A new API token (``sl_`` + 43 URL-safe characters, 256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str, *, pepper: bytes) -> str:
    """The stored form of a token: HMAC-SHA256 keyed with the server's pepper, hex."""
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def legacy_hash(token: str) -> str:
    """The unsalted SHA-256 that releases before the pepper stored; only ever compared."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    """The first characters of a token: shown to tell tokens apart and used to look them up."""
    return token[:10]


def matches(token: str, stored: str, *, pepper: bytes) -> bool:
    """Whether ``stored`` is the current hash of ``token`` (constant-time)."""
    return hmac.compare_digest(hash_token(token, pepper=pepper), stored)


def matches_legacy(token: str, stored: str) -> bool:
    """Whether ``stored`` is the legacy (unpeppered) hash of ``token`` (constant-time)."""
    return hmac.compare_digest(legacy_hash(token), stored)


def load_or_create_pepper(setting: str | None, data_dir: Path) -> bytes:
    """The token pepper: from settings, else ``data_dir/token_pepper.key``, created once.

    It is independent of the secret key on purpose: rotating the secret key must not log
    every API client out.
    """
    if setting:
        return setting.encode()
    path = data_dir / PEPPER_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file and linked into place: a process starting at the
    # same time sees either no file or the whole pepper, never an empty one.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".pepper-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_urlsafe(32).encode())
        with contextlib.suppress(FileExistsError):  # another process was first: use theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes().strip()
