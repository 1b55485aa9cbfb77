"""Workspace and token use cases the CLI calls: create, list, revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncline.context import AppContext
from syncline.security.tokens import hash_token, legacy_hash, load_or_create_pepper
from syncline.services.errors import NotFoundError
from syncline.services.workspaces import (
    authenticate,
    create_token,
    create_workspace,
    get_workspace,
    list_tokens,
    list_workspaces,
    revoke_token,
)
from syncline.store.tables import ApiToken


def test_workspace_and_tokens_lifecycle(ctx: AppContext) -> None:
    P = ctx.token_pepper
    with ctx.sessions() as s:
        ws, first = create_workspace(s, name="Acme", pepper=P)
        other, _ = create_workspace(s, name="Globex", pepper=P)
        assert [w.name for w in list_workspaces(s)] == ["Acme", "Globex"]
        assert get_workspace(s, workspace_id=ws.id).name == "Acme"
        token, second = create_token(s, workspace_id=ws.id, name="ci", pepper=P)
        assert first.startswith("sl_") and second.startswith("sl_") and first != second
        assert token.token_hash == hash_token(second, pepper=P) and second not in token.token_hash
        assert token.prefix == second[:10]
        assert [t.name for t in list_tokens(s, workspace_id=ws.id)] == ["default", "ci"]

        found = authenticate(s, token=second, pepper=P)
        assert found is not None and found.id == token.id and found.last_used_at is not None
        assert authenticate(s, token="sl_nope", pepper=P) is None
        assert authenticate(s, token="", pepper=P) is None

        with pytest.raises(NotFoundError):
            revoke_token(s, token_id=token.id, workspace_id=other.id)
        revoked = revoke_token(s, token_id=token.id, workspace_id=ws.id)
        assert revoked.revoked_at is not None
        assert revoke_token(s, token_id=token.id).revoked_at == revoked.revoked_at
        assert authenticate(s, token=second, pepper=P) is None
        assert authenticate(s, token=first, pepper=P) is not None

        with pytest.raises(NotFoundError):
            create_token(s, workspace_id="00000000-0000-0000-0000-000000000000", pepper=P)
        with pytest.raises(NotFoundError):
            get_workspace(s, workspace_id="00000000-0000-0000-0000-000000000000")


def test_last_used_at_written_at_most_once_a_minute(ctx: AppContext) -> None:
    P = ctx.token_pepper
    with ctx.sessions() as s:
        _, plain = create_workspace(s, name="Acme", pepper=P)
        first = authenticate(s, token=plain, pepper=P)
        assert first is not None
        stamp = first.last_used_at
        second = authenticate(s, token=plain, pepper=P)
        assert second is not None and second.last_used_at == stamp
        assert stamp is not None
        s.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == first.id)
            .values(last_used_at=stamp - timedelta(minutes=5))
        )
        s.commit()
        s.expire_all()
        third = authenticate(s, token=plain, pepper=P)
        assert third is not None and third.last_used_at is not None
        assert third.last_used_at > stamp - timedelta(minutes=5)


def test_tokens_are_peppered_hmacs_not_plain_sha256(ctx: AppContext) -> None:
    # The attack: unsalted SHA-256 of the token was stored, checkable offline from a DB leak.
    with ctx.sessions() as s:
        ws, _ = create_workspace(s, name="Acme", pepper=ctx.token_pepper)
        token, plain = create_token(s, workspace_id=ws.id, pepper=ctx.token_pepper)
        assert token.token_hash != hashlib.sha256(plain.encode()).hexdigest()
        assert token.token_hash == hmac.new(ctx.token_pepper, plain.encode(), "sha256").hexdigest()
        # Another server pepper cannot use the same store's tokens.
        assert authenticate(s, token=plain, pepper=b"another pepper") is None
        assert authenticate(s, token=plain, pepper=ctx.token_pepper) is not None


def test_a_legacy_sha256_token_still_works_and_is_rehashed(ctx: AppContext) -> None:
    P = ctx.token_pepper
    with ctx.sessions() as s:
        ws, _ = create_workspace(s, name="Acme", pepper=P)
        token, plain = create_token(s, workspace_id=ws.id, pepper=P)
        s.execute(
            sa.update(ApiToken).where(ApiToken.id == token.id).values(token_hash=legacy_hash(plain))
        )
        s.commit()
        found = authenticate(s, token=plain, pepper=P)
        assert found is not None and found.id == token.id
        s.expire_all()
        stored = s.get(ApiToken, token.id)
        assert stored is not None and stored.token_hash == hash_token(plain, pepper=P)
        assert authenticate(s, token=plain, pepper=P) is not None
        # A wrong token with the same prefix does not match either form.
        assert authenticate(s, token=plain[:10] + "x" * 33, pepper=P) is None


def test_token_roles(ctx: AppContext) -> None:
    P = ctx.token_pepper
    with ctx.sessions() as s:
        ws, first = create_workspace(s, name="Acme", pepper=P)
        found = authenticate(s, token=first, pepper=P)
        assert found is not None and found.role == "admin"
        viewer, _ = create_token(s, workspace_id=ws.id, role="viewer", pepper=P)
        assert viewer.role == "viewer"
        assert create_token(s, workspace_id=ws.id, pepper=P)[0].role == "admin"
        with pytest.raises(ValueError, match="unknown role"):
            create_token(s, workspace_id=ws.id, role="root", pepper=P)


def test_pepper_file_is_created_once_and_a_setting_wins(tmp_path: Path) -> None:
    first = load_or_create_pepper(None, tmp_path)
    assert len(first) >= 32 and load_or_create_pepper(None, tmp_path) == first
    assert (tmp_path / "token_pepper.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_pepper("from-env", tmp_path) == b"from-env"
