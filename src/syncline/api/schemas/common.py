"""Response shapes shared by every resource, and the error responses each route documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ErrorOut(BaseModel):
    """A non-validation error: ``{"detail": "Sync not found"}``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "Sync not found"}]})

    detail: str


class DeletedOut(BaseModel):
    """The answer to a successful DELETE."""

    status: Literal["deleted"] = "deleted"


class HealthOut(BaseModel):
    """``ok`` when the metadata store is reachable and migrated; ``degraded`` (still 200) when
    the data directory is (nearly) full, with the reason in ``detail``."""

    status: Literal["ok", "degraded", "unavailable"]
    detail: str | None = None


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error status codes."""
    text = {
        400: "X-Workspace-ID does not match the workspace in the path",
        401: "Missing, invalid or revoked API token",
        403: "The token's role may not call this route",
        404: "Unknown id, or an id of another workspace",
        409: "Conflicts with the current state",
        413: "The request body is larger than the server's limit",
        429: "Too many requests; retry after Retry-After seconds",
        502: "The source or destination failed while serving the request",
        503: "Too many model previews or column discoveries running; retry after Retry-After",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}


# What every route under /api/v1/workspaces/{id} can answer besides its own codes.
SCOPED = errors(400, 401, 403, 404, 413, 429)
