"""``/api/v1/workspaces/{id}/sources``: warehouse connections (configs shown masked)."""

from __future__ import annotations

from syncline.api.routes.connections import Kind, connection_router
from syncline.api.schemas.connections import SourceCreate, SourceOut, SourceUpdate
from syncline.services import sources as service

router = connection_router(
    Kind(
        plural="sources",
        singular="source",
        id_alias="sourceId",
        out=SourceOut,
        create=SourceCreate,
        update=SourceUpdate,
        service=service,
        delete_doc="no model reads from",
    )
)
