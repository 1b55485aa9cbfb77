"""Connector secrets: encrypted at rest (Fernet), masked in every API answer.

A config key is secret when its name says so (``password``, ``token``, ``api_key``, ``dsn`` ...);
nested objects are walked, so ``{"auth": {"token": ...}}`` is covered too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

MASK = "********"
_PREFIX = "enc:v1:"
_SECRET_KEY_RE = re.compile(
    r"(password|passwd|secret|token|api_?key|private_?key|credential|dsn|connection_string"
    r"|hmac|signing_key|authorization)",
    re.IGNORECASE,
)


class SecretError(Exception):
    """A stored secret could not be decrypted (wrong ``SYNCLINE_SECRET_KEY``?)."""


def is_secret_key(name: str) -> bool:
    """Whether a config key holds a secret, judged by its name."""
    return bool(_SECRET_KEY_RE.search(name))


def load_or_create_key(secret_key: str | None, data_dir: Path) -> bytes:
    """The Fernet key: from settings, else from ``data_dir/secret.key``, created on first start."""
    if secret_key:
        return _normalise_key(secret_key)
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _normalise_key(value: str) -> bytes:
    """Accept a Fernet key as is, or derive one from any passphrase."""
    raw = value.encode()
    try:
        Fernet(raw)
        return raw
    except (ValueError, TypeError):
        import base64
        import hashlib

        return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


class SecretBox:
    """Encrypts and decrypts the secret values of a connector config."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt_config(
        self, config: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Encrypt secret values; a masked value (``********``) keeps the previous stored one."""
        return {k: self._encrypt_value(k, v, (previous or {}).get(k)) for k, v in config.items()}

    def _encrypt_value(self, key: str, value: Any, previous: Any) -> Any:
        if isinstance(value, dict):
            prev = previous if isinstance(previous, dict) else {}
            return {k: self._encrypt_value(k, v, prev.get(k)) for k, v in value.items()}
        if not is_secret_key(key) or value is None:
            return value
        if value == MASK and isinstance(previous, str) and previous.startswith(_PREFIX):
            return previous
        if isinstance(value, str) and value.startswith(_PREFIX):
            return value
        token = self._fernet.encrypt(str(value).encode()).decode()
        return _PREFIX + token

    def decrypt_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config with secrets in clear, for a connector (never for an API answer)."""
        return {k: self._decrypt_value(v) for k, v in config.items()}

    def _decrypt_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._decrypt_value(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(_PREFIX):
            try:
                return self._fernet.decrypt(value[len(_PREFIX) :].encode()).decode()
            except InvalidToken as exc:
                raise SecretError(
                    "a stored secret cannot be decrypted: is SYNCLINE_SECRET_KEY the one it was "
                    "written with?"
                ) from exc
        return value


def mask_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the API shows it: every secret value replaced by ``********``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out[key] = mask_config(value)
        elif is_secret_key(key) and value is not None:
            out[key] = MASK
        else:
            out[key] = value
    return out
