"""The secret keys: where they come from, how a passphrase becomes one, and their order.

``SYNCLINE_SECRET_KEY`` (or the key file) holds one or more keys, newest first, separated by
commas or new lines. Each is a Fernet key as is, or a passphrase stretched with scrypt. The
newest encrypts; every key decrypts (``MultiFernet``), so a new key can be put in front and
``syncline secrets rotate`` re-encrypts the stored secrets before the old one is dropped.
A passphrase also decrypts what the former SHA-256 derivation of it encrypted.

Without ``SYNCLINE_SECRET_KEY`` the key file is ``SYNCLINE_SECRET_KEY_FILE``, else the
``<data_dir>/secret.key`` an older version created, else ``$XDG_CONFIG_HOME/syncline/secret.key``
(``~/.config/...``): outside the data directory, which is backed up and shared more widely.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

log = logging.getLogger(__name__)

# Fixed and public: the passphrase is the secret; the salt only separates this use of it.
SCRYPT_SALT = b"syncline/secret-key/v2"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


@dataclass(frozen=True)
class KeyRing:
    """Keys newest first (the first encrypts) and legacy keys that only decrypt."""

    keys: tuple[bytes, ...]
    fallbacks: tuple[bytes, ...] = ()
    source: str = "SYNCLINE_SECRET_KEY"


@lru_cache(maxsize=32)
def derive_key(passphrase: str) -> bytes:
    """A Fernet key from a passphrase: scrypt (N=2^15, r=8, p=1), 32 bytes, url-safe base64."""
    kdf = Scrypt(salt=SCRYPT_SALT, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))


def legacy_key(passphrase: str) -> bytes:
    """How versions before the KDF turned a passphrase into a key (decrypt only)."""
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def _is_fernet_key(value: str) -> bool:
    try:
        Fernet(value.encode())
        return True
    except (ValueError, TypeError):
        return False


def parse_keys(value: str, source: str = "SYNCLINE_SECRET_KEY") -> KeyRing:
    """The key ring of a ``SYNCLINE_SECRET_KEY`` value or key file text."""
    entries = [e.strip() for line in value.splitlines() for e in line.split(",")]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise ValueError(f"{source} holds no key")
    keys, fallbacks = [], []
    for entry in entries:
        if _is_fernet_key(entry):
            keys.append(entry.encode())
        else:
            keys.append(derive_key(entry))
            fallbacks.append(legacy_key(entry))
    return KeyRing(tuple(keys), tuple(fallbacks), source)


def default_key_file(data_dir: Path) -> Path:
    """Where the key file is when no setting names one (see the module docstring)."""
    legacy = data_dir / "secret.key"
    if legacy.exists():
        return legacy
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "syncline" / "secret.key"


def load_keys(secret_key: str | None, data_dir: Path, key_file: Path | None = None) -> KeyRing:
    """The keys from the setting, else from the key file, created (mode 0600) on first start."""
    if secret_key:
        return parse_keys(secret_key)
    path = key_file or default_key_file(data_dir)
    try:
        return parse_keys(_read_or_create(path), str(path))
    except OSError as exc:
        if key_file is not None:
            raise
        fallback = data_dir / "secret.key"
        log.warning("cannot use key file %s (%s); using %s", path, exc, fallback)
        return parse_keys(_read_or_create(fallback), str(fallback))


def _read_or_create(path: Path) -> str:
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_key_file(path, Fernet.generate_key().decode() + "\n", exclusive=True)
    return path.read_text()


def write_key_file(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write a key file atomically with mode 0600 (``exclusive``: keep one written meanwhile)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        if exclusive:
            # another process may have created it first: then theirs is used
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
