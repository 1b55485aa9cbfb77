"""Structured JSON logs for every process, and the lines a run wrote kept with the run.

stdlib logging stays the API every module uses; its records go through structlog's
``ProcessorFormatter`` so library loggers (httpx, psycopg, uvicorn) are JSON lines too, and
the secrets redaction (a record factory and a handler filter, ``security/redact.py``) still
runs before any line is formatted. Ids bound with :func:`bind_run` (structlog contextvars)
appear on every line of the thread executing the run, retries and rate-limit waits included.

:class:`RunLogCollector` keeps a run's lines (bounded) and writes them to ``run_logs`` in
batches; a failure to write is logged once and never reaches the run.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from syncline.store.tables import RunLog, SyncRun

MAX_LINES_PER_RUN = 5000
FLUSH_EVERY = 100
MAX_MESSAGE = 8000

_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
]


def json_formatter() -> logging.Formatter:
    """One JSON object a line: ts, level, logger, event, the bound ids and any exception."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger (and structlog's own loggers) to JSON lines on stderr."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_syncline_json", False):
            root.removeHandler(old)
    handler._syncline_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)


class RunLogCollector:
    """The lines of one run, written to ``run_logs`` every ``FLUSH_EVERY`` lines and at the end."""

    def __init__(self, sessions: sessionmaker[Session], run_id: str) -> None:
        self.sessions = sessions
        self.run_id = run_id
        self.kept = 0
        self.dropped = 0
        self.pending: list[dict[str, object]] = []
        self.lock = threading.Lock()

    def add(self, record: logging.LogRecord) -> None:
        with self.lock:
            if self.kept >= MAX_LINES_PER_RUN:
                self.dropped += 1
                return
            self.kept += 1
            self.pending.append(
                {
                    "run_id": self.run_id,
                    "logged_at": datetime.fromtimestamp(record.created, UTC),
                    "level": record.levelname.lower(),
                    "logger": record.name[:255],
                    "message": _message(record),
                }
            )
            full = len(self.pending) >= FLUSH_EVERY
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            rows, self.pending = self.pending, []
            if self.dropped and not rows:
                rows = [self._dropped_line()]
                self.dropped = 0
        if not rows:
            return
        _writing.active = True
        try:
            with self.sessions.begin() as s:
                s.execute(sa.insert(RunLog), rows)
        except Exception as exc:  # never fail a run over its log lines
            sys.stderr.write(
                f"run {self.run_id}: could not store log lines: {type(exc).__name__}\n"
            )
        finally:
            _writing.active = False

    def _dropped_line(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "logged_at": datetime.now(UTC),
            "level": "warning",
            "logger": __name__,
            "message": f"{self.dropped} more log lines not kept (limit {MAX_LINES_PER_RUN})",
        }


def _message(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        text += f" ({record.exc_info[0].__name__}: {record.exc_info[1]})"
    return text[:MAX_MESSAGE]


class _Writing(threading.local):
    active = False


_writing = _Writing()
_collectors: dict[str, RunLogCollector] = {}
_users: dict[str, int] = {}  # shards of one run in one process share its collector
_registry_lock = threading.Lock()


class _RunLogHandler(logging.Handler):
    """Hands each record made while a run is bound to that run's collector."""

    def emit(self, record: logging.LogRecord) -> None:
        if _writing.active:
            return  # the store's own lines while writing run lines
        run_id = structlog.contextvars.get_contextvars().get("run_id")
        collector = _collectors.get(run_id) if isinstance(run_id, str) else None
        if collector is not None:
            try:
                collector.add(record)
            except Exception:  # a log handler never raises into the code that logged
                self.handleError(record)


_HANDLER = _RunLogHandler(level=logging.INFO)


@contextmanager
def bind_run(sessions: sessionmaker[Session], run_id: str) -> Iterator[None]:
    """Bind the run's ids on every line logged inside, and keep those lines with the run."""
    with sessions() as s:
        found = s.execute(
            sa.select(SyncRun.sync_id, SyncRun.workspace_id).where(SyncRun.id == run_id)
        ).one_or_none()
    sync_id, workspace_id = found if found is not None else (None, None)
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    with _registry_lock:
        collector = _collectors.setdefault(run_id, RunLogCollector(sessions, run_id))
        _users[run_id] = _users.get(run_id, 0) + 1
    try:
        with structlog.contextvars.bound_contextvars(
            run_id=run_id, sync_id=sync_id, workspace_id=workspace_id
        ):
            yield
    finally:
        collector.flush()
        with _registry_lock:
            _users[run_id] -= 1
            last = _users[run_id] == 0
            if last:
                _users.pop(run_id)
                _collectors.pop(run_id, None)
        if last:
            collector.flush()  # the "lines not kept" notice, if any
