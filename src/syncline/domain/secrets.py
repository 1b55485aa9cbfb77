"""Which config fields are secrets, declared on the config models, and scrubbing them from text.

A connector marks a field with one of the annotated types below; the secret box reads the
markers (never key names) to decide what is encrypted at rest and masked in answers, and the
catalog's JSON Schema shows them ``writeOnly`` / ``format: password``.

* :data:`Secret` — the whole value is a secret (a password, a token, a DSN).
* :data:`SecretUrl` — a URL shown to users, whose userinfo password and query values may be
  secrets (``https://u:PW@host/x?api_key=K``): stored encrypted, shown redacted.
* :data:`SecretValues` — a mapping whose every value is a secret (extra HTTP headers).

:func:`scrub_text` removes what looks like a credential from any text (URL userinfo and query
values, ``Authorization`` schemes, ``password=`` pairs): connector errors pass through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "********"


class SecretKind(StrEnum):
    SECRET = "secret"
    URL = "url"
    VALUES = "values"


@dataclass(frozen=True)
class Sensitive:
    """The pydantic marker: which kind of secret a field holds (also shown in its JSON Schema)."""

    kind: SecretKind = SecretKind.SECRET

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        if self.kind is SecretKind.SECRET:
            schema.update(writeOnly=True, format="password")
        elif self.kind is SecretKind.VALUES:
            schema["additionalProperties"] = {
                "type": "string",
                "writeOnly": True,
                "format": "password",
            }
        schema["x-secret"] = self.kind.value
        return schema


Secret = Annotated[str, Sensitive()]
OptionalSecret = Annotated[str | None, Sensitive()]
SecretUrl = Annotated[str, Sensitive(SecretKind.URL)]
OptionalSecretUrl = Annotated[str | None, Sensitive(SecretKind.URL)]
SecretValues = Annotated[dict[str, str], Sensitive(SecretKind.VALUES)]


def url_has_secrets(url: str) -> bool:
    """Whether a URL carries a userinfo (user or password) or a query value."""
    try:
        parts = urlsplit(url)
        return bool(parts.username or parts.password or parts.query)
    except ValueError:
        return True  # unparseable: treat it as a secret as a whole


def redact_url(url: str) -> str:
    """The URL with its userinfo password and every query value replaced by ``********``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = parts.username
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    netloc = host + port
    if user is not None:
        netloc = f"{user}:{MASK}@{netloc}" if parts.password is not None else f"{MASK}@{netloc}"
    query = "&".join(
        f"{quote(k, safe='')}={MASK}" for k, _ in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`]+")
# Possessive quantifiers and a word boundary: a long run of word characters (a 500 KB model
# SQL) must not make the scheme match backtrack quadratically.
_USERINFO_RE = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*+://)(?P<userinfo>[^\s/@\"'<>]++)@")
_QUERY_RE = re.compile(r"(?P<key>[?&;][^=\s&#\"'<>]+=)(?P<value>[^&\s#\"'<>]+)")
_PATH_QUERY_RE = re.compile(r"(?<![\w:/])(/[^\s?\"'<>]*\?[^\s\"'<>]+)")
# "Bearer x" in any case; the other schemes only capitalised and with a token-like value, so
# that prose ("token failed") is left alone.
_AUTH_RE = re.compile(
    r"\b((?i:bearer)\s+|(?:Basic|Token|Digest)\s+"
    r"(?=[\w.~+/=-]*[0-9+/=_.-]|[\w.~+/=-]*[a-z][\w.~+/=-]*[A-Z]))[\w.~+/=-]{4,}"
)
_KV_RE = re.compile(
    r"\b(password|passwd|pwd|secret|api_?key|access_token|client_secret|token)(\s*=\s*)"
    r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,;&'\"]+)",
    re.IGNORECASE,
)
_JSON_RE = re.compile(
    r'("(?:password|passwd|secret|api_?key|access_token|refresh_token|client_secret|token)"'
    r'\s*:\s*)"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)


def _scrub_userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if MASK in userinfo:
        return match.group(0)
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{MASK}" if colon else MASK
    return f"{match.group('scheme')}{shown}@"


def _scrub_query(text: str) -> str:
    return _QUERY_RE.sub(lambda m: m.group("key") + MASK, text)


def scrub_text(text: str) -> str:
    """``text`` without URL userinfo, URL query values, auth header values or ``password=``."""
    if not text:
        return text
    text = _USERINFO_RE.sub(_scrub_userinfo, text)
    text = _URL_RE.sub(lambda m: _scrub_query(m.group(0)), text)
    text = _PATH_QUERY_RE.sub(lambda m: _scrub_query(m.group(0)), text)
    text = _AUTH_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _JSON_RE.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    return _KV_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
