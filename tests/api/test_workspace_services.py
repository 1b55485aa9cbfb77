"""Workspace and token use cases the CLI calls: create, list, revoke, authenticate."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from syncline.context import AppContext
from syncline.security.tokens import hash_token
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
    with ctx.sessions() as s:
        ws, first = create_workspace(s, name="Acme")
        other, _ = create_workspace(s, name="Globex")
        assert [w.name for w in list_workspaces(s)] == ["Acme", "Globex"]
        assert get_workspace(s, workspace_id=ws.id).name == "Acme"
        token, second = create_token(s, workspace_id=ws.id, name="ci")
        assert first.startswith("sl_") and second.startswith("sl_") and first != second
        assert token.token_hash == hash_token(second) and second not in token.token_hash
        assert token.prefix == second[:10]
        assert [t.name for t in list_tokens(s, workspace_id=ws.id)] == ["default", "ci"]

        found = authenticate(s, token=second)
        assert found is not None and found.id == token.id and found.last_used_at is not None
        assert authenticate(s, token="sl_nope") is None
        assert authenticate(s, token="") is None

        with pytest.raises(NotFoundError):
            revoke_token(s, token_id=token.id, workspace_id=other.id)
        revoked = revoke_token(s, token_id=token.id, workspace_id=ws.id)
        assert revoked.revoked_at is not None
        assert revoke_token(s, token_id=token.id).revoked_at == revoked.revoked_at
        assert authenticate(s, token=second) is None
        assert authenticate(s, token=first) is not None

        with pytest.raises(NotFoundError):
            create_token(s, workspace_id="00000000-0000-0000-0000-000000000000")
        with pytest.raises(NotFoundError):
            get_workspace(s, workspace_id="00000000-0000-0000-0000-000000000000")


def test_last_used_at_written_at_most_once_a_minute(ctx: AppContext) -> None:
    with ctx.sessions() as s:
        _, plain = create_workspace(s, name="Acme")
        first = authenticate(s, token=plain)
        assert first is not None
        stamp = first.last_used_at
        second = authenticate(s, token=plain)
        assert second is not None and second.last_used_at == stamp
        assert stamp is not None
        s.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == first.id)
            .values(last_used_at=stamp - timedelta(minutes=5))
        )
        s.commit()
        s.expire_all()
        third = authenticate(s, token=plain)
        assert third is not None and third.last_used_at is not None
        assert third.last_used_at > stamp - timedelta(minutes=5)
