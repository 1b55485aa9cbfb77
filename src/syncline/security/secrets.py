"""Connector secrets: encrypted at rest (Fernet), masked in every API answer.

Which values are secrets is declared by the connector's config model (the markers of
``syncline.domain.secrets``), read here as a *spec*: ``{"dsn": "secret", "auth": {...}}``.
A stored secret is ``enc:v1:<fernet token>``; a URL with secrets in it is
``enc:v1:<token>|<the URL redacted>`` so answers can show it without decrypting anything.
Keys and rotation live in :mod:`syncline.security.keys`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import AliasChoices, BaseModel

from syncline.domain.secrets import (
    MASK,
    SecretKind,
    Sensitive,
    redact_url,
    url_has_secrets,
)
from syncline.security import redact
from syncline.security.keys import load_keys

__all__ = [
    "MASK",
    "SecretBox",
    "SecretError",
    "is_secret_key",
    "load_or_create_key",
    "mask_config",
    "secret_spec",
]

Spec = Mapping[str, Any]  # key -> SecretKind | Spec
_PREFIX = "enc:v1:"
_SHOWN = "|"
# Only a heuristic for texts (error messages, config files): what is encrypted is decided by
# the config model's markers, never by this.
_SECRET_KEY_RE = re.compile(
    r"(password|passwd|secret|token|api_?key|private_?key|credential|dsn|connection_string"
    r"|hmac|signing_key|authorization)",
    re.IGNORECASE,
)


class SecretError(Exception):
    """A stored secret could not be decrypted (wrong ``SYNCLINE_SECRET_KEY``?)."""


def is_secret_key(name: str) -> bool:
    """Whether a key *looks* secret by its name (for texts only; storage uses the spec)."""
    return bool(_SECRET_KEY_RE.search(name))


def load_or_create_key(secret_key: str | None, data_dir: Path) -> bytes:
    """The newest Fernet key (see :func:`syncline.security.keys.load_keys`)."""
    return load_keys(secret_key, data_dir).keys[0]


@lru_cache(maxsize=256)
def secret_spec(model: type[BaseModel]) -> Spec:
    """Which keys of ``model``'s config are secrets, by its fields' markers (aliases too)."""
    spec: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, Sensitive)), None)
        entry: Any = marker.kind if marker else None
        if entry is None:
            nested = _model_in(info.annotation)
            entry = secret_spec(nested) if nested is not None else None
        if not entry:
            continue
        keys = {name, info.alias}
        if isinstance(info.validation_alias, str):
            keys.add(info.validation_alias)
        elif isinstance(info.validation_alias, AliasChoices):
            keys |= {c for c in info.validation_alias.choices if isinstance(c, str)}
        spec.update({k: entry for k in keys if k})
    return spec


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_PREFIX)


class SecretBox:
    """Encrypts and decrypts the secret values of a connector config.

    Args:
        keys: Fernet keys, newest first: the first encrypts, all decrypt.
        fallbacks: keys that only decrypt (legacy derivations of the same passphrases).
    """

    def __init__(self, keys: bytes | Sequence[bytes], *, fallbacks: Sequence[bytes] = ()) -> None:
        ordered = [keys] if isinstance(keys, bytes) else list(keys)
        self._fernet = MultiFernet([Fernet(k) for k in (*ordered, *fallbacks)])

    # -- values ----------------------------------------------------------------------------

    def encrypt(self, clear: str, shown: str | None = None) -> str:
        token = self._fernet.encrypt(clear.encode()).decode()
        return _PREFIX + token + (_SHOWN + shown if shown is not None else "")

    def decrypt(self, value: str) -> str:
        token = value[len(_PREFIX) :].split(_SHOWN, 1)[0]
        try:
            clear = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretError(
                "a stored secret cannot be decrypted: is SYNCLINE_SECRET_KEY the one it was "
                "written with?"
            ) from exc
        redact.remember([clear])
        return clear

    def rotate(self, value: str) -> str:
        """``value`` re-encrypted with the newest key (its shown form kept)."""
        token, sep, shown = value[len(_PREFIX) :].partition(_SHOWN)
        try:
            fresh = self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretError("a stored secret cannot be decrypted with any key") from exc
        return _PREFIX + fresh + sep + shown

    # -- configs ---------------------------------------------------------------------------

    def encrypt_config(
        self,
        config: dict[str, Any],
        previous: dict[str, Any] | None = None,
        *,
        spec: Spec | None = None,
    ) -> dict[str, Any]:
        """Encrypt the values ``spec`` marks secret; ``********`` keeps the previous one.

        Without a spec only values that are already sealed stay sealed (nothing is guessed).
        """
        prev = previous or {}
        return {k: self._seal(v, prev.get(k), (spec or {}).get(k)) for k, v in config.items()}

    def _seal(self, value: Any, previous: Any, kind: Any) -> Any:
        if value in (None, "") or kind is None or _is_sealed(value):
            return value
        if isinstance(kind, Mapping):
            if not isinstance(value, dict):
                return value
            return self.encrypt_config(
                value, previous if isinstance(previous, dict) else None, spec=kind
            )
        if kind == SecretKind.VALUES:
            if not isinstance(value, dict):
                return value
            prev = previous if isinstance(previous, dict) else {}
            return {k: self._seal(v, prev.get(k), SecretKind.SECRET) for k, v in value.items()}
        if kind == SecretKind.URL:
            return self._seal_url(value, previous)
        if value == MASK and previous not in (None, "", MASK):
            return previous if _is_sealed(previous) else self.encrypt(str(previous))
        return self.encrypt(str(value))

    def _seal_url(self, value: Any, previous: Any) -> Any:
        if not isinstance(value, str):
            return value
        if _is_sealed(previous) and value == mask_config({"v": previous})["v"]:
            return previous
        if MASK in value and isinstance(previous, str):
            value = _merge_url(value, self.decrypt(previous) if _is_sealed(previous) else previous)
        if not url_has_secrets(value):
            return value
        return self.encrypt(value, shown=redact_url(value))

    def decrypt_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config with secrets in clear, for a connector (never for an API answer)."""
        return {k: self._open(v) for k, v in config.items()}

    def _open(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._open(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._open(v) for v in value]
        if _is_sealed(value):
            return self.decrypt(value)
        return value

    def rotate_config(self, config: dict[str, Any], *, spec: Spec | None = None) -> dict[str, Any]:
        """Sealed values re-encrypted with the newest key; clear secrets (per ``spec``) sealed."""
        rotated = {k: self._rotate(v) for k, v in config.items()}
        return self.encrypt_config(rotated, spec=spec) if spec else rotated

    def _rotate(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._rotate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rotate(v) for v in value]
        return self.rotate(value) if _is_sealed(value) else value


def _merge_url(value: str, previous: str) -> str:
    """``value`` with its masked password and query values taken from ``previous``."""
    try:
        new, old = urlsplit(value), urlsplit(previous)
    except ValueError:
        return value
    netloc = new.netloc
    if new.password == MASK and old.password is not None:
        netloc = netloc.replace(f":{MASK}@", f":{old.password}@", 1)
    elif netloc.startswith(f"{MASK}@") and "@" in old.netloc:
        netloc = old.netloc.rsplit("@", 1)[0] + netloc[len(MASK) :]
    old_query: dict[str, list[str]] = {}
    for k, v in parse_qsl(old.query, keep_blank_values=True):
        old_query.setdefault(k, []).append(v)
    parts = []
    for piece in new.query.split("&") if new.query else []:
        key, eq, val = piece.partition("=")
        if val == MASK and old_query.get(key):
            val = old_query[key].pop(0)
            piece = f"{key}={_quote_query(val)}"
        parts.append(piece if eq or val else key)
    return urlunsplit((new.scheme, netloc, new.path, "&".join(parts), new.fragment))


def _quote_query(value: str) -> str:
    return quote(value, safe="")


def still_masked(
    config: Mapping[str, Any], spec: Spec, path: tuple[str, ...] = ()
) -> tuple[str, ...] | None:
    """The path of a secret still ``********`` in a decrypted config (nothing was kept)."""
    for key, value in config.items():
        kind = spec.get(key)
        if kind is None or value is None:
            continue
        here = (*path, key)
        if isinstance(kind, Mapping):
            if isinstance(value, Mapping):
                found = still_masked(value, kind, here)
                if found:
                    return found
        elif isinstance(value, Mapping):
            bad = next((k for k, v in value.items() if v == MASK), None)
            if bad is not None:
                return (*here, bad)
        elif isinstance(value, str) and MASK in value and (value == MASK or kind == SecretKind.URL):
            return here
    return None


def mask_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as the API shows it: sealed values as ``********`` or their redacted form.

    Works on the stored form alone (nothing is decrypted); a clear URL with a password (stored
    before its field was marked) is shown redacted too.
    """
    return {key: _mask(value) for key, value in config.items()}


def _mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        return mask_config(value)
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if _is_sealed(value):
        _, sep, shown = value[len(_PREFIX) :].partition(_SHOWN)
        return shown if sep else MASK
    if isinstance(value, str) and "://" in value and "@" in value and " " not in value:
        try:
            if urlsplit(value).password:
                return redact_url(value)
        except ValueError:
            return MASK
    return value
