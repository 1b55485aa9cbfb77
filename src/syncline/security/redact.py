"""One redaction for every text that leaves the process: errors, run records, logs, pages.

:func:`redact` scrubs credential-looking parts (URL userinfo and query values, bearer tokens,
``password=``) and every secret value this process has decrypted (the secret box remembers
them), plus any ``extra`` values the caller knows. The log filter applies it to every record
of every logger, library loggers included.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from syncline.domain.secrets import MASK, scrub_text

_MIN_LEN = 4  # shorter secrets are masked only as whole words
_MAX_KNOWN = 10_000
_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None


def remember(values: Iterable[str]) -> None:
    """Add secret values (and their URL-encoded forms) to what :func:`redact` masks."""
    global _pattern
    # Shorter values would mask ordinary words everywhere; they are masked where known (extra).
    new = {v for value in values for v in _forms(value) if len(v) >= _MIN_LEN} - _known
    if not new:
        return
    with _lock:
        if len(_known) + len(new) > _MAX_KNOWN:
            _known.clear()
        _known.update(new)
        _pattern = None


def _forms(value: str) -> set[str]:
    out = {value, quote(value, safe=""), unquote(value)}
    try:
        password = urlsplit(value).password
    except ValueError:
        password = None
    if password:
        out |= {password, unquote(password)}
    for match in _KV_PASSWORD_RE.finditer(value):
        found = match.group(1)
        out.add(found[1:-1].replace("\\'", "'") if found.startswith("'") else found)
    return {v for v in out if v and v != MASK}


_KV_PASSWORD_RE = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def _compile(values: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for value in sorted(set(values), key=len, reverse=True):
        escaped = re.escape(value)
        parts.append(escaped if len(value) >= _MIN_LEN else rf"(?<!\w){escaped}(?!\w)")
    return re.compile("|".join(parts)) if parts else None


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with known secret values, URL credentials and auth tokens masked."""
    global _pattern
    if not text:
        return text
    extra_forms = {v for value in extra if value for v in _forms(str(value))}
    if extra_forms:
        pattern = _compile(extra_forms)
        if pattern is not None:
            text = pattern.sub(MASK, text)
    if _known:
        with _lock:
            if _pattern is None:
                _pattern = _compile(_known)
            known = _pattern
        if known is not None:
            text = known.sub(MASK, text)
    return scrub_text(text)


def clear_values(config: Mapping[str, Any], spec: Mapping[str, Any]) -> set[str]:
    """The clear secret values of a decrypted ``config`` per its secret ``spec``."""
    out: set[str] = set()
    for key, value in config.items():
        kind = spec.get(key)
        if kind is None or value is None:
            continue
        if isinstance(kind, Mapping):
            if isinstance(value, Mapping):
                out |= clear_values(value, kind)
        elif isinstance(value, Mapping):
            out |= {str(v) for v in value.values() if v not in (None, "")}
        elif str(value):
            out.add(str(value))
    return out


class RedactingFilter(logging.Filter):
    """Rewrites each record's message through :func:`redact` (never drops a record).

    The arguments are redacted one by one when that is enough, so formatters that read
    ``record.args`` (uvicorn's access log) keep working; otherwise the message is frozen.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_syncline_redacted", False):
            return True
        record._syncline_redacted = True
        try:
            message = record.getMessage()
        except Exception:  # a broken format: let the handler report it as it would
            return True
        cleaned = redact(message)
        if cleaned != message:
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            record.args = _redact_args(record.args)
            try:
                still = record.getMessage()
            except Exception:
                still = message
            if redact(still) != still:
                record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _redact_arg(arg: Any) -> Any:
    if arg is None or isinstance(arg, (bool, int, float)):
        return arg
    text = str(arg)
    cleaned = redact(text)
    return arg if cleaned == text else cleaned


def _redact_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(_redact_arg(a) for a in args)
    if isinstance(args, Mapping):
        return {k: _redact_arg(v) for k, v in args.items()}
    return args


_FILTER = RedactingFilter()
_installed = False


def install_log_redaction() -> None:
    """Redact every log record of the process, whichever logger or handler it goes to.

    The record factory covers records created anywhere (httpx, httpcore, urllib3, psycopg,
    uvicorn); the filter is also put on the root handlers for records made before. httpx's
    per-request INFO line is lowered to WARNING: URLs of every request are not worth logging.
    """
    global _installed
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
