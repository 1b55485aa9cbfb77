"""``/api/v1/workspaces/{id}``: the caller's workspace (created by the CLI, not over HTTP)."""

from __future__ import annotations

from fastapi import APIRouter

from syncline.api.deps import WorkspaceDep
from syncline.api.schemas.common import SCOPED
from syncline.api.schemas.workspaces import WorkspaceOut

router = APIRouter(prefix="/api/v1/workspaces", tags=["workspaces"], responses=SCOPED)


@router.get("/{id}", summary="Get a workspace", response_model=WorkspaceOut)
def get_workspace(workspace: WorkspaceDep) -> WorkspaceOut:
    """The workspace of the token (any other id answers 404)."""
    return WorkspaceOut.model_validate(workspace, from_attributes=True)
