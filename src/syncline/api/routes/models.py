"""``/api/v1/workspaces/{id}/models``: SQL queries on sources, with discovered columns."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from syncline.api.deps import CtxDep, ModelPath, SessionDep, WorkspaceDep
from syncline.api.pagination import PAGE_HEADERS, PageAsc, set_page_headers
from syncline.api.schemas.common import SCOPED, DeletedOut, errors
from syncline.api.schemas.models import (
    ColumnOut,
    ModelCreate,
    ModelOut,
    ModelUpdate,
    PreviewIn,
    PreviewOut,
)
from syncline.services import models as service

router = APIRouter(prefix="/api/v1/workspaces/{id}/models", tags=["models"], responses=SCOPED)


@router.get(
    "",
    summary="List models",
    response_model=list[ModelOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def list_models(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageAsc,
    source_id: uuid.UUID | None = None,
    q: Annotated[
        str | None, Query(max_length=255, pattern=r"^[^\x00]*$", description="Name contains.")
    ] = None,
) -> list[ModelOut]:
    """The workspace's models, oldest first."""
    result = service.list_models(
        session,
        workspace_id=workspace.id,
        page=page,
        source_id=str(source_id) if source_id else None,
        q=q,
    )
    set_page_headers(response, request, result)
    return [ModelOut.of(m) for m in result.items]


@router.post(
    "",
    summary="Create a model",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelOut,
    responses=errors(503),
)
def create_model(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, body: ModelCreate
) -> ModelOut:
    """Create a model; its SQL runs on the source once to discover the columns."""
    model = service.create_model(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        name=body.name,
        description=body.description,
        source_id=str(body.source_id),
        sql=body.sql,
        primary_key=body.primary_key,
        settings=ctx.settings,
    )
    return ModelOut.of(model)


@router.get("/{modelId}", summary="Get a model", response_model=ModelOut)
def get_model(workspace: WorkspaceDep, session: SessionDep, model_id: ModelPath) -> ModelOut:
    """One model, with its columns."""
    return ModelOut.of(
        service.get_model(session, workspace_id=workspace.id, model_id=str(model_id))
    )


@router.put("/{modelId}", summary="Update a model", response_model=ModelOut, responses=errors(503))
def update_model(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    model_id: ModelPath,
    body: ModelUpdate,
) -> ModelOut:
    """Change the fields sent; new SQL or a new source rediscovers the columns."""
    model = service.update_model(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        model_id=str(model_id),
        name=body.name,
        description=body.description,
        source_id=str(body.source_id) if body.source_id else None,
        sql=body.sql,
        primary_key=body.primary_key,
        settings=ctx.settings,
    )
    return ModelOut.of(model)


@router.delete(
    "/{modelId}", summary="Delete a model", response_model=DeletedOut, responses=errors(409)
)
def delete_model(workspace: WorkspaceDep, session: SessionDep, model_id: ModelPath) -> DeletedOut:
    """Delete a model no sync reads (409 otherwise)."""
    service.delete_model(session, workspace_id=workspace.id, model_id=str(model_id))
    return DeletedOut()


@router.post(
    "/{modelId}/preview",
    summary="Preview a model's rows",
    response_model=PreviewOut,
    responses=errors(503),
)
def preview_model(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    model_id: ModelPath,
    body: Annotated[PreviewIn | None, Body()] = None,
) -> PreviewOut:
    """The first rows of the model (``limit``, default 20, at most 1000)."""
    columns, rows = service.preview_model(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        model_id=str(model_id),
        limit=body.limit if body else 20,
        settings=ctx.settings,
    )
    return PreviewOut(columns=[ColumnOut(**c) for c in columns], rows=rows)
