"""Database round trips of an authenticated read, and how the token cache keeps revocation exact.

The statements of a request are counted with a ``before_cursor_execute`` listener on the
store's engine (the pool's pre-ping and the transaction's BEGIN/ROLLBACK are not statements
SQLAlchemy executes, so they are not in the count).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_helpers import Tenant
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.context import AppContext
from syncline.services import token_cache
from syncline.services.workspaces import create_token, revoke_token
from syncline.store.tables import ApiToken, Workspace


@contextmanager
def statements(ctx: AppContext) -> Iterator[list[str]]:
    """The SQL statements executed on the store while inside."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    sa.event.listen(ctx.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(ctx.engine, "before_cursor_execute", record)


def _touching(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if f" {table}" in s or f'"{table}"' in s]


def test_get_sync_authenticates_and_scopes_in_one_query(tenant: Tenant, ctx: AppContext) -> None:
    sync_id = tenant.sync()["id"]
    assert tenant.get(f"/syncs/{sync_id}").status_code == 200  # last_used_at written once
    token_cache.invalidate_all()
    with statements(ctx) as seen:
        assert tenant.get(f"/syncs/{sync_id}").status_code == 200
    auth = _touching(seen, "api_tokens")
    assert len(auth) == 1, seen  # the token, joined with its workspace
    assert "workspaces" in auth[0]
    assert not [s for s in _touching(seen, "workspaces") if s not in auth], seen
    assert not [s for s in seen if s.startswith("update")], seen
    # the token lookup, the sync, its health: three statements for GET /syncs/{id}
    assert len(seen) == 3, seen


def test_a_cached_token_costs_no_query(tenant: Tenant, ctx: AppContext) -> None:
    sync_id = tenant.sync()["id"]
    assert tenant.get(f"/syncs/{sync_id}").status_code == 200
    with statements(ctx) as seen:
        assert tenant.get(f"/syncs/{sync_id}").status_code == 200
        assert tenant.get("").json()["id"] == tenant.workspace_id
    assert not _touching(seen, "api_tokens"), seen
    assert not _touching(seen, "workspaces"), seen


def test_revocation_is_seen_by_the_very_next_request(tenant: Tenant, ctx: AppContext) -> None:
    assert tenant.get("/syncs").status_code == 200  # now cached
    with ctx.sessions() as session:
        revoke_token(session, token_id=tenant.token_id)
    assert tenant.get("/syncs").status_code == 401


def test_a_token_changed_through_any_orm_session_is_dropped(
    tenant: Tenant, ctx: AppContext
) -> None:
    # Not through revoke_token: a plain ORM change committed by some other code path.
    assert tenant.get("/syncs").status_code == 200
    with ctx.sessions() as session:
        token = session.get(ApiToken, tenant.token_id)
        assert token is not None
        token.revoked_at = datetime.now(UTC)
        session.commit()
    assert tenant.get("/syncs").status_code == 401


def test_a_role_change_applies_to_the_next_request(tenant: Tenant, ctx: AppContext) -> None:
    assert tenant.post(f"/syncs/{tenant.sync()['id']}/trigger", json={}).status_code == 201
    with ctx.sessions() as session:
        session.execute(
            sa.update(ApiToken).where(ApiToken.id == tenant.token_id).values(role="viewer")
        )
        session.commit()
    assert tenant.get("/syncs").status_code == 200
    assert tenant.post("/syncs", json=tenant.sync_body(name="x")).status_code == 403


def test_a_deleted_workspace_locks_its_tokens_out(tenant: Tenant, ctx: AppContext) -> None:
    assert tenant.get("/syncs").status_code == 200
    with ctx.sessions() as session:
        session.execute(sa.delete(Workspace).where(Workspace.id == tenant.workspace_id))
        session.commit()
    assert tenant.get("/syncs").status_code == 401


def test_a_rolled_back_revocation_changes_nothing(tenant: Tenant, ctx: AppContext) -> None:
    assert tenant.get("/syncs").status_code == 200
    with ctx.sessions() as session:
        token = session.get(ApiToken, tenant.token_id)
        assert token is not None
        token.revoked_at = datetime.now(UTC)
        session.flush()
        session.rollback()
    assert tenant.get("/syncs").status_code == 200


def test_other_tokens_of_the_workspace_keep_working(tenant: Tenant, ctx: AppContext) -> None:
    with ctx.sessions() as session:
        _, second = create_token(
            session, workspace_id=tenant.workspace_id, pepper=ctx.token_pepper, name="ci"
        )
    both = {"Authorization": f"Bearer {second}"}
    assert tenant.get("/syncs").status_code == 200  # both cached
    assert tenant.get("/syncs", headers=both).status_code == 200
    with ctx.sessions() as session:
        revoke_token(session, token_id=tenant.token_id)
    assert tenant.get("/syncs").status_code == 401
    assert tenant.get("/syncs", headers=both).status_code == 200


def test_the_cache_never_holds_the_raw_token(tenant: Tenant) -> None:
    assert tenant.get("/syncs").status_code == 200
    assert tenant.token not in repr(token_cache.snapshot())


@pytest.mark.parametrize("ctx", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
def test_a_revocation_in_another_process_reaches_the_cache_on_postgres(
    tenant: Tenant, ctx: AppContext
) -> None:
    """``syncline token revoke`` in its own process: its NOTIFY empties this app's cache.

    The TTL here is an hour, so a 401 can only come from the notification; it arrives
    asynchronously (a listener thread), hence the wait for it.
    """
    settings = ctx.settings.model_copy(update={"api_token_cache_ttl": 3600.0})
    long_lived = dataclasses.replace(ctx, settings=settings)
    with TestClient(create_app(long_lived)) as client:
        headers = tenant.headers
        url = tenant.url("/syncs")
        assert client.get(url, headers=headers).status_code == 200
        assert any(snapshot for snapshot in token_cache.snapshot())  # cached
        env = {
            **os.environ,
            "SYNCLINE_DATABASE_URL": ctx.engine.url.render_as_string(hide_password=False),
            "SYNCLINE_DATA_DIR": str(ctx.settings.data_dir),
        }
        cli = Path(sys.executable).parent / "syncline"
        subprocess.run([str(cli), "token", "revoke", tenant.token_id], env=env, check=True)
        deadline = time.monotonic() + 10
        while client.get(url, headers=headers).status_code == 200:
            assert time.monotonic() < deadline, "the notification never emptied the cache"
            time.sleep(0.05)
        assert client.get(url, headers=headers).status_code == 401


@pytest.mark.parametrize("ctx", ["postgres"], indirect=True)  # the listener is PostgreSQL's
def test_a_lost_listener_connection_empties_the_cache_and_reconnects(ctx: AppContext) -> None:
    """Notifications sent while the listener is down are lost: the cache must not outlive it."""
    with token_cache.serving(ctx.engine, 3600.0) as cache:
        assert cache.usable
        grant_of = token_cache.Grant.of
        cache.put("k", grant_of(_token(), _workspace()), cache.generation())
        assert cache.get("k") is not None
        with ctx.engine.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = :q AND pid <> pg_backend_pid()"
                ),
                {"q": f"LISTEN {token_cache.CHANNEL}"},
            ).all()
        assert killed
        deadline = time.monotonic() + 10
        while cache.entries():
            assert time.monotonic() < deadline, "the cache outlived its listener"
            time.sleep(0.02)
        while not cache.usable:
            assert time.monotonic() < deadline, "the listener did not reconnect"
            time.sleep(0.02)
        assert cache.get("k") is None


def _token() -> ApiToken:
    now = datetime.now(UTC)
    return ApiToken(id="t", workspace_id="w", name="", token_hash="h", prefix="p", role="admin",
                    created_at=now, last_used_at=None)  # fmt: skip


def _workspace() -> Workspace:
    now = datetime.now(UTC)
    return Workspace(id="w", name="w", created_at=now, updated_at=now)
