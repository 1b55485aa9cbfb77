"""A few seconds' cache of API token lookups, dropped the moment any token or workspace changes.

Every API request authenticates; without a cache that is one query per request before the
request's own. The cache maps the token's stored hash (HMAC under the pepper, never the
token) to a :class:`Grant`: the token's and its workspace's columns, for ``ttl`` seconds.

Revocation stays immediate:

* **In this process**: every ORM session is watched (:func:`install`). A flush or a bulk
  ``update``/``delete`` that touches ``api_tokens`` (other than the ``last_used_at`` refresh)
  or ``workspaces`` marks the session; when it commits, every cache in the process is
  emptied. Lookups carry the cache's generation from before their query and a result read
  before an invalidation is not stored, so a lookup racing a revocation cannot re-cache the
  old row.
* **Across processes on PostgreSQL**: the same transaction sends ``NOTIFY
  syncline_api_tokens`` (delivered at commit), and each API process listens on a connection of
  its own (:class:`Listener`) and empties its cache on every notification. Until the listener
  is connected, and whenever its connection is lost, the cache is not used at all, so a
  missed notification can never extend a revoked token's life.
* **Across processes on SQLite** (``serve --api-workers N``, or the CLI next to the API)
  nothing is notified: another process accepts a revoked token for at most ``ttl`` seconds
  (``api_token_cache_ttl``, 0 turns the cache off). A change written with raw SQL, outside
  any ORM session, is bounded the same way.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from syncline.store.tables import ApiToken, Workspace

log = logging.getLogger(__name__)

CHANNEL = "syncline_api_tokens"
# An ORM update of api_tokens with this execution option does not invalidate (last_used_at).
KEEP = "token_cache_keep"
_DIRTY = "token_cache_dirty"


@dataclass(frozen=True)
class Grant:
    """What authentication needs of a live token and its workspace, detached from any session."""

    token_id: str
    workspace_id: str
    name: str
    token_hash: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    workspace_name: str
    workspace_created_at: datetime
    workspace_updated_at: datetime

    @classmethod
    def of(cls, token: ApiToken, workspace: Workspace) -> Grant:
        """The grant of a token row and its workspace row."""
        return cls(
            token.id,
            token.workspace_id,
            token.name,
            token.token_hash,
            token.prefix,
            token.role,
            token.created_at,
            token.last_used_at,
            workspace.name,
            workspace.created_at,
            workspace.updated_at,
        )

    def token(self) -> ApiToken:
        """A fresh, session-less ``ApiToken`` with these values (callers only read it)."""
        return ApiToken(
            id=self.token_id,
            workspace_id=self.workspace_id,
            name=self.name,
            token_hash=self.token_hash,
            prefix=self.prefix,
            role=self.role,
            created_at=self.created_at,
            last_used_at=self.last_used_at,
            revoked_at=None,
        )

    def workspace(self) -> Workspace:
        """A fresh, session-less ``Workspace`` with these values."""
        return Workspace(
            id=self.workspace_id,
            name=self.workspace_name,
            created_at=self.workspace_created_at,
            updated_at=self.workspace_updated_at,
        )


class TokenCache:
    """Grants by token hash for ``ttl`` seconds; thread-safe (the API serves from a pool)."""

    def __init__(self, ttl: float, *, usable: bool = True) -> None:
        self.ttl = ttl
        # False while a PostgreSQL listener is not connected: lookups then always hit the store.
        self.usable = usable and ttl > 0
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Grant]] = {}
        self._generation = 0
        _caches.add(self)

    def generation(self) -> int:
        """Read before a lookup's query and handed back to :meth:`put`."""
        with self._lock:
            return self._generation

    def get(self, key: str) -> Grant | None:
        """The unexpired grant for ``key`` (a token hash), if any."""
        if not self.usable:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: str, grant: Grant, generation: int) -> None:
        """Keep ``grant`` unless the cache was invalidated since ``generation`` was read."""
        if not self.usable:
            return
        with self._lock:
            if generation != self._generation:
                return  # a token changed while this lookup ran: its row may be stale
            if len(self._entries) > 10_000:  # bounded: expired entries are dropped wholesale
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[key] = (time.monotonic() + self.ttl, grant)

    def invalidate(self) -> None:
        """Forget every grant (revocations are rare; precision is not worth a reverse index)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def set_usable(self, usable: bool) -> None:
        """Turn the cache on or off (off also forgets everything)."""
        self.invalidate()
        self.usable = usable and self.ttl > 0

    def entries(self) -> dict[str, Grant]:
        """The grants held now (tests, debugging)."""
        with self._lock:
            return {k: v[1] for k, v in self._entries.items()}


_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def invalidate_all() -> None:
    """Empty every token cache of this process."""
    for cache in list(_caches):
        cache.invalidate()


def snapshot() -> list[dict[str, Grant]]:
    """The entries of every cache in the process (tests: what is held, and under which key)."""
    return [cache.entries() for cache in list(_caches)]


# -- watching sessions -----------------------------------------------------------------------


def _notify(session: Session) -> None:
    """Tell other processes, in this transaction (PostgreSQL delivers it at commit)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {CHANNEL}")


def _mark(session: Session) -> None:
    if not session.info.get(_DIRTY):
        session.info[_DIRTY] = True
        _notify(session)
    invalidate_all()  # now, too: a lookup racing the commit is refused by the generation


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Workspace) and obj not in session.new:
            _mark(session)
            return
        if isinstance(obj, ApiToken) and (obj in session.new or session.is_modified(obj)):
            _mark(session)
            return


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(KEEP):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ in (ApiToken, Workspace):
        _mark(state.session)


def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        invalidate_all()


def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)


def install() -> None:
    """Watch every ORM session of the process (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))


install()


# -- listening on PostgreSQL ------------------------------------------------------------------


class Listener:
    """``LISTEN syncline_api_tokens`` on a connection of its own; empties ``cache`` on each
    notification, and keeps the cache off while not connected."""

    def __init__(self, engine: sa.Engine, cache: TokenCache) -> None:
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.cache = cache
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="token-cache-listener", daemon=True)

    def start(self, wait: float = 5.0) -> None:
        """Start listening; waits up to ``wait`` s for the first LISTEN (else the cache stays
        off until it succeeds)."""
        self._thread.start()
        self._ready.wait(wait)

    def stop(self) -> None:
        """Stop and join the thread."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        self.cache.set_usable(False)
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.cache.set_usable(True)
                    self._ready.set()
                    delay = 0.5
                    self._listen(conn)
            except Exception as exc:  # the store restarted, the network failed: retry
                log.warning("token cache listener lost its connection (%s); cache off", exc)
            self.cache.set_usable(False)
            self._ready.set()
            self._stop.wait(delay)
            delay = min(delay * 2, 10.0)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            waitables: list[Any] = [conn.fileno(), self._wake_r]
            readable, _, _ = select.select(waitables, [], [], 30.0)
            if self._wake_r in readable:
                return
            # Drain what arrived; an idle wake-up (timeout) doubles as a liveness check.
            got = list(conn.notifies(timeout=0))
            if not readable:
                conn.execute("SELECT 1")
            if got:
                self.cache.invalidate()


@contextlib.contextmanager
def serving(engine: sa.Engine, ttl: float) -> Iterator[TokenCache]:
    """The token cache of one API app: listening on PostgreSQL, TTL-bounded on SQLite."""
    if engine.dialect.name != "postgresql" or ttl <= 0:
        yield TokenCache(ttl)
        return
    cache = TokenCache(ttl, usable=False)
    listener = Listener(engine, cache)
    listener.start()
    try:
        yield cache
    finally:
        listener.stop()
