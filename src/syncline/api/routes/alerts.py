"""``/api/v1/workspaces/{id}/alert-channels`` and ``/alerts``: where alerts go, what fired."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from syncline.alerts import service
from syncline.api.deps import CtxDep, SessionDep, WorkspaceDep
from syncline.api.pagination import PAGE_HEADERS, PageDesc, set_page_headers
from syncline.api.schemas.common import SCOPED, DeletedOut
from syncline.services.common import paginate
from syncline.services.errors import NotFoundError
from syncline.store.alert_tables import AlertChannel, AlertEvent

router = APIRouter(prefix="/api/v1/workspaces/{id}", tags=["alerts"], responses=SCOPED)

ChannelPath = Annotated[uuid.UUID, Path(alias="channelId", description="Alert channel id.")]
ChannelType = Literal["webhook", "slack", "email"]


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    type: ChannelType
    config: dict[str, Any] = Field(
        description="webhook: url, hmac_secret; slack: url; email: host, port, from_address, to,"
        " username, password, starttls. Secrets are encrypted and shown as ********."
    )


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    type: ChannelType | None = None
    config: dict[str, Any] | None = None


class ChannelOut(BaseModel):
    id: str
    name: str
    type: str
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: AlertChannel) -> ChannelOut:
        return cls(
            id=row.id,
            name=row.name,
            type=row.type,
            config=service.masked(row),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class TestOut(BaseModel):
    delivered: bool
    error: str


class AlertOut(BaseModel):
    id: str
    type: str
    kind: str = Field(description="alert or recovery")
    message: str
    sync_id: str | None
    run_id: str | None
    channel_id: str | None
    status: str = Field(description="pending, delivered, failed or undeliverable")
    delivered: bool
    attempts: int
    last_error: str
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: AlertEvent) -> AlertOut:
        return cls(
            id=row.id,
            type=row.alert_type,
            kind=row.kind,
            message=row.message,
            sync_id=row.sync_id,
            run_id=row.run_id,
            channel_id=row.channel_id,
            status=row.status,
            delivered=row.status == "delivered",
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


def _channel(session: Any, workspace_id: str, channel_id: uuid.UUID) -> AlertChannel:
    try:
        return service.get_channel(session, workspace_id, str(channel_id))
    except service.ChannelNotFound:
        raise NotFoundError("Alert channel") from None


@router.get("/alert-channels", summary="List alert channels", response_model=list[ChannelOut])
def list_channels(workspace: WorkspaceDep, session: SessionDep) -> list[ChannelOut]:
    """The workspace's channels, oldest first; every alert goes to each unless a rule names
    ``channel_ids``."""
    return [ChannelOut.of(c) for c in service.list_channels(session, workspace.id)]


@router.post(
    "/alert-channels",
    summary="Create an alert channel",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelOut,
)
def create_channel(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, body: ChannelCreate
) -> ChannelOut:
    """A JSON webhook (HMAC-signed), a Slack incoming webhook or an SMTP email channel."""
    row = service.create_channel(
        session, ctx.secrets, workspace.id, body.name, body.type, body.config
    )
    return ChannelOut.of(row)


@router.get(
    "/alert-channels/{channelId}", summary="Get an alert channel", response_model=ChannelOut
)
def get_channel(
    workspace: WorkspaceDep, session: SessionDep, channel_id: ChannelPath
) -> ChannelOut:
    """One channel; secrets are shown as ********."""
    return ChannelOut.of(_channel(session, workspace.id, channel_id))


def _update(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    channel_id: ChannelPath,
    body: ChannelUpdate,
) -> ChannelOut:
    _channel(session, workspace.id, channel_id)
    row = service.update_channel(
        session,
        ctx.secrets,
        workspace.id,
        str(channel_id),
        name=body.name,
        type=body.type,
        config=body.config,
    )
    return ChannelOut.of(row)


router.put(
    "/alert-channels/{channelId}",
    summary="Update an alert channel",
    response_model=ChannelOut,
    description="Change the fields sent; in ``config``, ``********`` keeps a stored secret.",
)(_update)
router.patch(
    "/alert-channels/{channelId}",
    summary="Patch an alert channel",
    response_model=ChannelOut,
    operation_id="patch_alert_channel",
    description="Like PUT: only the fields sent change.",
)(_update)


@router.delete(
    "/alert-channels/{channelId}", summary="Delete an alert channel", response_model=DeletedOut
)
def delete_channel(
    workspace: WorkspaceDep, session: SessionDep, channel_id: ChannelPath
) -> DeletedOut:
    """Delete a channel; alerts it was sent keep their history (channel shown as null)."""
    _channel(session, workspace.id, channel_id)
    service.delete_channel(session, workspace.id, str(channel_id))
    return DeletedOut()


@router.post(
    "/alert-channels/{channelId}/test",
    summary="Send a test alert",
    response_model=TestOut,
)
def test_channel(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, channel_id: ChannelPath
) -> TestOut:
    """Send a sample alert to the channel now and say whether it arrived."""
    _channel(session, workspace.id, channel_id)
    error = service.test_channel(session, ctx.secrets, workspace.id, str(channel_id))
    return TestOut(delivered=not error, error=error)


@router.get(
    "/alerts",
    summary="List alerts that fired",
    response_model=list[AlertOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def list_alerts(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDesc,
    sync_id: Annotated[uuid.UUID | None, Query(description="Only this sync's.")] = None,
    status: Annotated[
        Literal["pending", "delivered", "failed", "undeliverable"] | None, Query()
    ] = None,
) -> list[AlertOut]:
    """One row per alert and channel, newest first: type, sync, run, delivered or not."""
    stmt = service.list_events(
        session, workspace.id, sync_id=str(sync_id) if sync_id else None, status=status
    )
    result = paginate(session, stmt, page=page, order_by=[AlertEvent.created_at, AlertEvent.id])
    set_page_headers(response, request, result)
    return [AlertOut.of(e) for e in result.items]
