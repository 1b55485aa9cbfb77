"""Alert channels (create, list, change, delete, test) and the list of alerts that fired.

Channel configs are stored like connector configs: secrets encrypted with the ``SecretBox``
(a ``********`` sent back keeps the stored value) and masked in every answer.
"""

from __future__ import annotations

from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.alerts.channels import CONFIGS, Alert, check_config
from syncline.alerts.worker import send_with_retry
from syncline.domain.validation import ErrorDetail, ValidationError
from syncline.security.secrets import SecretBox, mask_config, secret_spec, still_masked
from syncline.store.alert_tables import AlertChannel, AlertEvent
from syncline.store.tables import new_id, utcnow

__all__ = [
    "ChannelNotFound",
    "create_channel",
    "delete_channel",
    "get_channel",
    "list_channels",
    "list_events",
    "masked",
    "test_channel",
    "update_channel",
]


class ChannelNotFound(LookupError):
    """No such channel in the workspace."""


def masked(channel: AlertChannel) -> dict[str, Any]:
    """The config as answers show it (from the stored form: nothing is decrypted)."""
    return mask_config(channel.config)


def _validated(box: SecretBox, type: str, config: dict[str, Any], previous: dict[str, Any]) -> Any:
    """Seal the secrets the config model marks, after checking the values in clear."""
    cls = CONFIGS.get(type)
    if cls is None:
        raise ValidationError.at(("body", "type"), "one of webhook, slack, email", "enum")
    spec = secret_spec(cls)
    sealed = box.encrypt_config(config, previous, spec=spec)
    clear = box.decrypt_config(sealed)
    left = still_masked(clear, spec)
    if left:
        raise ValidationError.at(("body", "config", *left), "send the secret: none is stored")
    try:
        check_config(type, clear)
    except pydantic.ValidationError as exc:  # the errors, never the input (it holds secrets)
        details = [
            ErrorDetail(("body", "config", *e["loc"]), e["msg"], e["type"]) for e in exc.errors()
        ]
        raise ValidationError(details) from None
    except ValueError as exc:
        raise ValidationError.at(("body", "config"), str(exc)) from None
    return sealed


def list_channels(session: Session, workspace_id: str) -> list[AlertChannel]:
    return list(
        session.scalars(
            sa.select(AlertChannel)
            .where(AlertChannel.workspace_id == workspace_id)
            .order_by(AlertChannel.created_at, AlertChannel.id)
        )
    )


def get_channel(session: Session, workspace_id: str, channel_id: str) -> AlertChannel:
    channel = session.get(AlertChannel, channel_id)
    if channel is None or channel.workspace_id != workspace_id:
        raise ChannelNotFound(channel_id)
    return channel


def create_channel(
    session: Session, box: SecretBox, workspace_id: str, name: str, type: str, config: Any
) -> AlertChannel:
    """Create a channel (ValueError for a bad config)."""
    channel = AlertChannel(
        id=new_id(),
        workspace_id=workspace_id,
        name=name,
        type=type,
        config=_validated(box, type, dict(config), {}),
    )
    session.add(channel)
    session.commit()
    return channel


def update_channel(
    session: Session,
    box: SecretBox,
    workspace_id: str,
    channel_id: str,
    *,
    name: str | None = None,
    type: str | None = None,
    config: dict[str, Any] | None = None,
) -> AlertChannel:
    """Change the fields given; a new ``type`` needs a ``config`` (``********`` keeps secrets)."""
    channel = get_channel(session, workspace_id, channel_id)
    new_type = type or channel.type
    if config is not None or new_type != channel.type:
        previous = channel.config if new_type == channel.type else {}
        source = config if config is not None else channel.config
        channel.config = _validated(box, new_type, dict(source), previous)
    channel.type = new_type
    if name is not None:
        channel.name = name
    channel.updated_at = utcnow()
    session.commit()
    return channel


def delete_channel(session: Session, workspace_id: str, channel_id: str) -> None:
    session.delete(get_channel(session, workspace_id, channel_id))
    session.commit()


def test_channel(session: Session, box: SecretBox, workspace_id: str, channel_id: str) -> str:
    """Send a sample alert now; the error text, or "" when it was delivered."""
    channel = get_channel(session, workspace_id, channel_id)
    sample = Alert(
        id=new_id(),
        type="Test",
        kind="test",
        message=f"Test alert from Syncline to channel {channel.name}",
        workspace_id=workspace_id,
        sync_id=None,
        run_id=None,
        created_at=utcnow().isoformat(),
    )
    try:
        send_with_retry(channel.type, box.decrypt_config(channel.config), sample, wait=0.1)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:2000]
    return ""


def list_events(
    session: Session,
    workspace_id: str,
    *,
    sync_id: str | None = None,
    status: str | None = None,
) -> sa.Select[AlertEvent]:
    """The statement of the workspace's alerts (for ``paginate``), filtered."""
    stmt = sa.select(AlertEvent).where(AlertEvent.workspace_id == workspace_id)
    if sync_id:
        stmt = stmt.where(AlertEvent.sync_id == sync_id)
    if status:
        stmt = stmt.where(AlertEvent.status == status)
    return stmt
