"""What the HTTP destinations share: retries, and how a vendor's answer is quoted in errors.

Retries (Salesforce, HubSpot): what is transient, how long to wait, and how many times to
re-run an idempotent step before the engine takes over. A step is re-run whole (a lookup and
the write that depends on it, a read-then-archive), so it must be safe to run twice: a
timed-out request may have been applied by the server.

Quoting (every HTTP destination): a response body that ends up in a check message, a run's
``error_message`` or a RunRecord goes through :func:`quote_body` first: cut to
``BODY_LIMIT`` characters, with tokens and keys that servers echo back blanked out.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from syncline.connectors._budget import planned_wait
from syncline.connectors.base import DestinationError, DestinationUnreachable, RunInfo

log = logging.getLogger("syncline.retry")

__all__ = [
    "BODY_LIMIT",
    "RetryPolicy",
    "Transient",
    "quote_body",
    "retry_after",
    "retrying",
    "transport_detail",
]

T = TypeVar("T")

#: Characters of a vendor's response kept in an error message.
BODY_LIMIT = 500
REDACTED = "***"
_SECRET_NAME = (
    r"(?:access_?token|refresh_?token|id_?token|token|api_?key|apikey|secret\w*|password|passwd"
    r"|authorization|session_?id|sid|signature|credentials?|private_?key|x-[\w-]*key)"
)
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # "access_token": "..." / access_token=... / password: ... (JSON, form, header, YAML)
    (
        re.compile(rf"""(?i)(?<!\w)(["']?{_SECRET_NAME}["']?\s*[:=]\s*["']?)([^"'&\s,;}}]+)"""),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),  # JWT
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),  # AWS access key id
    (re.compile(r"\b00D\w{12,15}![\w.-]+"), REDACTED),  # Salesforce session id
]
_OPAQUE = re.compile(r"(?<![\w+=-])[\w+=-]{32,}")


def _opaque(match: re.Match[str]) -> str:
    """A long run of letters and digits is a key or a token, not a word or an identifier."""
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    return REDACTED if digits >= 4 and sum(c.isalpha() for c in text) >= 4 else text


def quote_body(text: str, limit: int = BODY_LIMIT) -> str:
    """A response body fit for an error message: one line, tokens blanked, at most ``limit``.

    Deliberately simple: it catches what servers commonly echo (bearer tokens, ``*_token``,
    ``*key``, ``password`` and ``secret`` values, JWTs, cloud keys, long opaque strings); the
    secrets redaction of the API edge runs on top of it.
    """
    head = " ".join(text[: limit * 4].split())
    for pattern, replacement in _REDACTIONS:
        head = pattern.sub(replacement, head)
    head = _OPAQUE.sub(_opaque, head)
    return head if len(head) <= limit else head[:limit] + "..."


def transport_detail(exc: BaseException) -> str:
    """The root cause of a transport failure ("Connection refused"), which httpx and anyio
    hide behind "All connection attempts failed"."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return str(exc) or type(exc).__name__


class Transient(Exception):
    """A failure that waiting may cure; ``wait`` is the server's hint in seconds, if any.

    ``quick``: the server answered (a 5xx without a hint), so a passing fault is likely; the
    first retry comes after ``RetryPolicy.quick_retry_seconds`` instead of the backoff.
    """

    def __init__(self, message: str, wait: float | None = None, *, quick: bool = False) -> None:
        super().__init__(message)
        self.wait = wait
        self.quick = quick


@dataclass(frozen=True)
class RetryPolicy:
    """How long one idempotent step may be retried before the engine takes over.

    With ``run`` (set by the destination's ``begin``), every wait is paid from the run's one
    retry budget and ends at once when the run is asked to stop.
    """

    attempts: int = 5
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    #: The first wait after a ``quick`` failure (later ones: the backoff schedule as usual).
    quick_retry_seconds: float = 0.1
    run: RunInfo | None = field(default=None, compare=False, repr=False)


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (only the delta-seconds form is used by CRMs)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def retrying(
    step: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run an idempotent step, waiting and re-running it on ``Transient`` failures.

    The step must be safe to run twice (an upsert by key, a lookup followed by a create of
    what is still absent): a timed-out request may have been applied by the server. Every
    retry is logged with its reason and the next wait. Under a run (``policy.run``), the wait
    must fit the run's retry budget and is interruptible; the stop is checked before every
    attempt. Anything but ``Transient`` (auth refused, a request the vendor rejects whole,
    an unknown object) fails on the first attempt.

    Raises:
        DestinationError: once the attempts are spent (retryable: the engine's own backoff
            may take over with the whole batch, within the same budget), or not retryable
            when the run's budget cannot pay the next wait; ``DestinationUnreachable`` when
            the last failure was the connection itself.
        Interrupted: the run was asked to stop.
    """
    run = policy.run

    def wait_of(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = exc.wait if isinstance(exc, Transient) else None
        if hint is None and isinstance(exc, Transient) and exc.quick and state.attempt_number == 1:
            hint = min(policy.quick_retry_seconds, policy.backoff_seconds)
        delay = (
            hint if hint is not None else policy.backoff_seconds * 2 ** (state.attempt_number - 1)
        )
        return float(min(delay, policy.max_wait_seconds))

    refused = False

    def stop(state: RetryCallState) -> bool:
        nonlocal refused
        if state.attempt_number >= policy.attempts:
            return True
        wait = planned_wait(state, wait_of)  # type: ignore[arg-type]
        reason = str(state.outcome.exception()) if state.outcome else ""
        if run is None:
            log.warning(
                "retrying %s (attempt %d failed: %s); next attempt in %.1fs",
                *(what, state.attempt_number, reason, wait),
            )
            return False
        refused = not run.budget.allow(wait, what=what, reason=reason, attempt=state.attempt_number)
        return refused

    def attempt_once() -> T:
        if run is not None:
            run.check_stop()
        return step()

    retrier = Retrying(
        stop=stop,
        wait=lambda state: planned_wait(state, wait_of),  # type: ignore[arg-type]
        sleep=run.wait if run is not None else sleep,
        retry=retry_if_exception_type(Transient),
        reraise=True,
    )
    try:
        return retrier(attempt_once)
    except Transient as exc:
        tries = retrier.statistics.get("attempt_number", policy.attempts)
        spent = "the run's retry budget is spent" if refused else f"gave up after {tries} attempts"
        message = f"{what}: {exc} ({spent})"
        cause = exc.__cause__
        if isinstance(cause, httpx.TransportError):
            where = _host_port(cause)
            detail = transport_detail(cause)
            raise DestinationUnreachable(
                f"{what}: cannot reach {where} ({detail}): {exc} ({spent})", retryable=not refused
            ) from exc
        raise DestinationError(message, retryable=not refused) from exc


def _host_port(exc: httpx.TransportError) -> str:
    """``host:port`` of the request that failed, for the message."""
    try:
        url = exc.request.url
    except RuntimeError:  # no request attached
        return "the server"
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"
